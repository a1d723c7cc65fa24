"""Artifacts a stage run computes itself (``StageContext.produce``) are stored with the
run's outcome, in its one transaction: a run that dies stores none of them, and a run
that finds them stored by another run first leaves that run's outcome standing."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

import messages
from messages import JobState, Stage
from tests.factories import good
from tests.workers.harness import Harness
from workers.errors import StateConflict, TransientError
from workers.machinery.context import StageContext


def test_what_a_run_produced_is_stored_with_its_outcome_not_before(h: Harness) -> None:
    seen_while_running: list[bytes | None] = []
    read_later: list[bytes | None] = []

    def make(ctx: StageContext) -> None:
        assert ctx.produce("made", b"by csr") == b"by csr"
        ctx.produce("hidden", b"SECRET-MATERIAL", secret=True)
        assert ctx.artifact("made") == b"by csr"  # the run sees its own product at once
        seen_while_running.append(h.store.artifacts.get(ctx.job.id, "made"))

    h.behaviour[Stage.CSR] = make
    h.behaviour[Stage.IMPORT_CHAIN] = lambda ctx: read_later.append(ctx.artifact("made"))
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    assert seen_while_running == [None]
    assert read_later == [b"by csr"]
    assert h.store.artifacts.get(job_id, "hidden") == b"SECRET-MATERIAL"
    engine = create_engine(h.store.url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT data FROM twoway_artifacts")).all()
    engine.dispose()
    assert all(b"SECRET-MATERIAL" not in bytes(row.data) for row in rows)


def test_a_run_that_fails_stores_nothing_it_produced(h: Harness) -> None:
    h.runtime.actors[Stage.CSR].options.update(min_backoff=10, max_backoff=20)
    found_by_retry: list[bytes | None] = []

    def flaky(ctx: StageContext) -> None:
        found_by_retry.append(ctx.artifact("made"))
        ctx.produce("made", f"run {h.runs[Stage.CSR]}".encode())
        if h.runs[Stage.CSR] == 1:
            raise TransientError("the run dies after making it")

    h.behaviour[Stage.CSR] = flaky
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    assert found_by_retry == [None, None]
    assert h.store.artifacts.get(job_id, "made") == b"run 2"


def _start(h: Harness) -> tuple[str, StageContext]:
    """A job with no runs yet, and a context for one run of it."""
    job, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    return job.id, StageContext(h.deps, job, Stage.GENERATE)


def test_a_product_stored_first_by_another_run_rolls_this_outcome_back(h: Harness) -> None:
    job_id, ctx = _start(h)
    ctx.produce("private_key", b"this run's key", secret=True)
    h.store.artifacts.put_all(job_id, {"private_key": b"the other run's key"}, secret=True)
    before = h.store.history(job_id)
    with pytest.raises(StateConflict, match="another run stored private_key first"):
        h.store.transition(job_id, kind="stage_completed", within=ctx.store_made)
    assert h.store.history(job_id) == before  # the outcome went with the artifacts
    assert h.store.artifacts.get(job_id, "private_key") == b"the other run's key"


def test_a_product_marked_replace_overwrites_what_is_stored(h: Harness) -> None:
    job_id, ctx = _start(h)
    h.store.artifacts.put_all(job_id, {"keystore": b"built for the old certificate"})
    assert ctx.produce("keystore", b"built anew", replace=True) == b"built anew"
    assert ctx.produce("csr", b"first") == b"first"
    h.store.transition(job_id, kind="stage_completed", within=ctx.store_made)
    assert h.store.artifacts.get(job_id, "keystore") == b"built anew"
    assert h.store.artifacts.get(job_id, "csr") == b"first"


def test_a_run_gets_back_what_an_earlier_outcome_stored(h: Harness) -> None:
    job_id, ctx = _start(h)
    h.store.artifacts.put_all(job_id, {"csr": b"recorded before"})
    assert ctx.produce("csr", b"made again") == b"recorded before"
    h.store.transition(job_id, kind="stage_completed", within=ctx.store_made)
    assert h.store.artifacts.get(job_id, "csr") == b"recorded before"
