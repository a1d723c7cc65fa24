"""The revocation and notification outboxes on SQLite and PostgreSQL: one row per key
however often it is added, due rows by time, backoff, and an upgrade that starts both
followers after the history that existed before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text

from messages import JobRequest
from tests.factories import good
from workers.sealing import Sealer
from workers.store import Store
from workers.store.engine import make_engines
from workers.store.lifecycle import Backoff
from workers.store.migrate import alembic_config


def test_rows_are_added_once_and_retried_with_doubling_backoff(
    store_url: str, sealer: Sealer
) -> None:
    store = Store(store_url, sealer)
    row = {"job_id": "a" * 32, "profile": "local", "serial": "1f", "reason": "superseded"}
    assert store.revocations.add(**row, trigger="retired") is True
    assert store.revocations.add(**row, trigger="retired") is False  # a follower ran twice
    [due] = store.revocations.due()
    backoff = Backoff(first_s=30, most_s=100, tries=5)
    at = store.revocations.retry(due, backoff, "CA down")
    assert store.revocations.due() == []  # not before next_at
    assert timedelta(seconds=29) < at - datetime.now(UTC) <= timedelta(seconds=30)
    [again] = store.revocations.due(now=at + timedelta(seconds=1))
    assert again.attempts == 1 and again.values["last_error"] == "CA down"
    assert [backoff.after(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 100, 100]
    store.revocations.settle(again, "done")
    assert store.revocations.due(now=at + timedelta(days=1)) == []
    assert store.notifications.add(event_id=7, channel="ops", job_id="a" * 32, kind="job_failed")
    assert not store.notifications.add(event_id=7, channel="ops", job_id="a" * 32, kind="x")
    assert store.notifications.add(event_id=7, channel="mail", job_id="a" * 32, kind="job_failed")
    store.close()


def test_an_upgraded_store_neither_revokes_nor_notifies_its_past(
    store_url: str, sealer: Sealer
) -> None:
    engine = make_engines(store_url)[1]
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0008")
    engine.dispose()
    # A store at 0008 with history (written raw: Store itself would migrate first).
    with make_engines(store_url)[1].begin() as conn:
        for seq in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO twoway_events (job_id, seq, at, kind, state, detail)"
                    " VALUES (:j, :s, :at, 'rolled_back', 'cancelled', '{}')"
                ),
                {"j": "b" * 32, "s": seq, "at": datetime.now(UTC)},
            )
    store = Store(store_url, sealer)  # upgrades to head
    last = store.outbox.pending(0)[-1].id
    assert store.outbox.cursor("revoker").last_event_id == last
    assert store.outbox.cursor("notifier").last_event_id == last
    store.close()


def test_a_new_store_starts_its_followers_at_zero(store_url: str, sealer: Sealer) -> None:
    store = Store(store_url, sealer)
    job, _ = store.create_job(JobRequest.model_validate(good()))
    assert store.outbox.cursor("revoker").last_event_id == 0
    assert [e.event.job_id for e in store.outbox.pending(0)] == [job.id]
    store.close()
