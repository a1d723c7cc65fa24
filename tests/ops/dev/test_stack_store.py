"""A stack's store is the one it was given (or its own SQLite file), and the worker
processes it starts are told that store, whatever the caller's environment says."""

from __future__ import annotations

from pathlib import Path

import pytest

from messages import JobRequest, KeyType
from ops.bench import BenchOptions, run_bench
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.factories import good
from workers.config import Settings
from workers.errors import ConfigError
from workers.sealing import Sealer
from workers.store import Store


def _store_from(env: dict[str, str], stack: RunningStack) -> Store:
    """The store a ``twoway worker`` started with ``env`` would open."""
    return Store(Settings.from_environment(env).store_url(), Sealer([stack.master_key]))


@pytest.mark.parametrize("given", ["postgresql", "none"])
def test_workers_are_told_the_stacks_store_not_the_callers(
    given: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOWAY_DATABASE_URL", f"sqlite:///{tmp_path}/the-callers.sqlite3")
    url = request.getfixturevalue("pg_schema_url") if given == "postgresql" else None
    with Stack(StackOptions(broker="stub", database_url=url)) as stack:
        job, _ = stack.app.submit(stack.example_job(KeyType.EC256))
        store = _store_from(stack.worker_environment(), stack)
        try:
            assert store.get_job(job.id).id == job.id
        finally:
            store.close()
    assert not (tmp_path / "the-callers.sqlite3").exists()


def test_bench_refuses_a_store_that_holds_jobs(pg_schema_url: str) -> None:
    seeded = Store(pg_schema_url, Sealer([Sealer.generate_key()]))
    try:
        seeded.create_job(JobRequest.model_validate(good()))
    finally:
        seeded.close()
    with pytest.raises(ConfigError, match="already holds 1 jobs"):
        run_bench(BenchOptions(jobs=1, runbook_jobs=0, database_url=pg_schema_url))
