"""Reading one job: its state, stage, history and error."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from .auth import require
from .state import state_of

__all__ = ["JOB_ID", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[require("read")])
JOB_ID = Path(pattern=r"^[0-9a-f]{32}$", description="the job id (32 hex digits)")


@router.get("/{job_id}", summary="A job: state, current stage, history, error")
def get_job(request: Request, job_id: str = JOB_ID) -> dict[str, Any]:
    store = state_of(request).app.store
    job = store.get_job(job_id)
    history = [event.model_dump(mode="json", exclude={"job_id"}) for event in store.history(job.id)]
    return {**job.summary(), "history": history}
