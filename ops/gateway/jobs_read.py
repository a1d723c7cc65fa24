"""Reading one job: its state, stage, history and error."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from ops.gateway.auth import require
from ops.gateway.state import state_of

__all__ = ["JOB_ID", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[require("read")])
JOB_ID = Path(pattern=r"^[0-9a-f]{32}$", description="the job id (32 hex digits)")


@router.get("/{job_id}", summary="A job: state, current stage, history, error, and why it stalled")
def get_job(request: Request, job_id: str = JOB_ID) -> dict[str, Any]:
    store = state_of(request).app.store
    job = store.get_job(job_id)
    history = [event.model_dump(mode="json", exclude={"job_id"}) for event in store.history(job.id)]
    return {**job.summary(), "stalled": _stalled(job.state.value, history), "history": history}


def _stalled(state: str, history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Why the sweeper found the job stalled, while that is its last word (else None)."""
    last = history[-1] if history else None
    if state != "running" or last is None or last["kind"] != "job_stalled":
        return None
    detail = last["detail"]
    return {"since": last["at"], "stage": detail.get("stage"), "reason": detail.get("reason")}
