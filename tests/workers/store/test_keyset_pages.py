"""Keyset pages: every job exactly once and in order, ties on the timestamp included, on
SQLite and PostgreSQL; counts by state estimated (and said so) past the threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from messages import JobRequest, JobState
from tests.factories import good
from workers.sealing import Sealer
from workers.store import Store, queries
from workers.store import schema as t


def _jobs(store: Store, count: int) -> list[str]:
    ids = [store.create_job(JobRequest.model_validate(good()))[0].id for _ in range(count)]
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with store._writer.begin() as conn:  # ties: the first five share one timestamp
        for index, job_id in enumerate(ids):
            when = moment if index < 5 else moment + timedelta(minutes=index)
            values = {"created_at": when, "updated_at": when, "state": "waiting_for_ca"}
            conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(**values))
    return ids


def test_pages_of_jobs_and_of_waiting_jobs_hold_each_job_once(
    store_url: str, sealer: Sealer
) -> None:
    store = Store(store_url, sealer)
    ids = _jobs(store, 9)
    seen, after = [], None
    while page := store.list_jobs(limit=2, after=after):
        seen += page
        after = (page[-1].created_at, page[-1].id)
    assert sorted(j.id for j in seen) == sorted(ids) and len(seen) == len(ids)
    assert [(j.created_at, j.id) for j in seen] == sorted(
        ((j.created_at, j.id) for j in seen), key=lambda k: (-k[0].timestamp(), k[1])
    )
    waiting, since = [], None
    while page := store.list_waiting([JobState.WAITING_FOR_CA], limit=2, after=since):
        waiting += page
        since = (page[-1].updated_at, page[-1].id)
    assert [j.id for j in waiting] == [
        j.id for j in sorted(seen, key=lambda j: (j.updated_at, j.id))
    ]


def test_counts_are_estimated_past_the_threshold_and_say_so(
    pg_schema_url: str, sealer: Sealer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(pg_schema_url, sealer)
    _jobs(store, 6)
    assert store.count_jobs_cheaply() == ({"waiting_for_ca": 6}, False)
    with store._writer.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE twoway_jobs"))
    monkeypatch.setattr(queries, "ESTIMATE_FROM", 1)
    counts, estimated = store.count_jobs_cheaply()
    assert estimated and counts == {"waiting_for_ca": 6}
