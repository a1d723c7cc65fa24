"""Following a job's progress: what ends the job is shown before ``follow`` returns."""

from __future__ import annotations

from messages import JobRequest, JobState, Stage
from ops.views.jobview import follow
from tests.factories import good
from workers.sealing import Sealer
from workers.store import Store


def test_the_event_that_ends_the_job_is_shown_even_when_it_lands_mid_poll(
    store_url: str, sealer: Sealer
) -> None:
    store = Store(store_url, sealer)
    job, _ = store.create_job(JobRequest.model_validate(good()))
    store.transition(job.id, kind="stage_started", state=JobState.RUNNING, stage=Stage.ENABLE)
    store.transition(
        job.id, kind="stage_completed", stage=Stage.ENABLE, detail={"duration_ms": 1.0}
    )
    shown: list[str] = []

    def show(line: str) -> None:
        # The job fails while its earlier progress is being printed: between one read of
        # the history and the next read of the job.
        if not shown:
            store.transition(
                job.id,
                kind="stage_failed",
                state=JobState.FAILED,
                detail={"message": "ServiceNow answered 403", "hint": "grant write"},
            )
        shown.append(line)

    final = follow(store, job.id, show, timeout=10, poll=0.01)
    assert final.state is JobState.FAILED
    assert any("[FAILED] enable" in line and "403" in line for line in shown), shown
