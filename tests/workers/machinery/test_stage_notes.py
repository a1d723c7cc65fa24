"""A stage's notes (``StageContext.note``) are written with the run's outcome, in its
transaction: before the outcome's event, whatever the outcome, and not at all by a run
whose outcome is rolled back. ``note_now`` writes at once."""

from __future__ import annotations

import pytest

from messages import JobState, Stage
from tests.workers.harness import Harness
from workers.errors import PermanentError, StateConflict, TransientError
from workers.machinery.context import StageContext


def _events(h: Harness, job_id: str, stage: Stage) -> list[tuple[str, str]]:
    return [(e.kind, e.state.value) for e in h.store.history(job_id) if e.stage is stage]


def test_notes_are_written_with_the_outcome_not_before(h: Harness) -> None:
    seen_while_running: list[list[str]] = []

    def noting(ctx: StageContext) -> None:
        ctx.note("instance_record", sys_id="x" * 32)
        ctx.note_now("servicenow_retry", status=503)
        seen_while_running.append(h.kinds(ctx.job.id))

    h.behaviour[Stage.UPLOAD_KEYSTORE] = noting
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    (kinds,) = seen_while_running
    assert "servicenow_retry" in kinds and "instance_record" not in kinds
    assert _events(h, job_id, Stage.UPLOAD_KEYSTORE) == [
        ("stage_started", "running"),
        ("servicenow_retry", "running"),
        ("instance_record", "running"),
        ("stage_completed", "running"),
    ]


def test_a_failing_run_writes_its_notes_before_the_failure(h: Harness) -> None:
    def refused(ctx: StageContext) -> None:
        ctx.note("instance_record", sys_id="y" * 32)
        raise PermanentError("the instance refused")

    h.behaviour[Stage.ENABLE] = refused
    job_id = h.start_job()
    h.wait(job_id, JobState.FAILED)
    assert _events(h, job_id, Stage.ENABLE)[-2:] == [
        ("instance_record", "running"),
        ("stage_failed", "failed"),
    ]


def test_a_retried_run_writes_its_notes_with_the_retry(h: Harness) -> None:
    h.runtime.actors[Stage.CSR].options.update(min_backoff=10, max_backoff=20)

    def flaky(ctx: StageContext) -> None:
        ctx.note("attempted", run=h.runs[Stage.CSR])
        if h.runs[Stage.CSR] == 1:
            raise TransientError("flaky CA")

    h.behaviour[Stage.CSR] = flaky
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    kinds = [kind for kind, _ in _events(h, job_id, Stage.CSR)]
    assert kinds == [
        "stage_started",
        "attempted",
        "stage_retry",
        "stage_started",
        "attempted",
        "stage_completed",
    ]


def test_an_outcome_rolled_back_takes_its_notes_with_it(h: Harness) -> None:
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    before = h.store.history(job_id)
    with pytest.raises(StateConflict):
        h.store.transition(
            job_id,
            kind="stage_completed",
            expect={JobState.RUNNING},
            notes=[("instance_record", {"sys_id": "z" * 32})],
        )
    assert h.store.history(job_id) == before
