"""Changing jobs: submit one (with an Idempotency-Key), replay a stage, cancel.

All three need the ``operator`` role; who asked (the token's name and id) and why go
into the job's history.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from messages import JobRequest, Stage
from ops.gateway.auth import OperatorToken, actor_of
from ops.gateway.errors import ERROR_BODY, error_responses
from ops.gateway.jobs_read import JOB_ID
from ops.gateway.state import state_of
from workers.levers.reasons import MAX_REASON
from workers.levers.replay import cancel, replay
from workers.levers.undo import left_on_instance

__all__ = ["CancelBody", "JobCreated", "ReplayBody", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON, description="why (recorded)")]


class JobCreated(BaseModel):
    job_id: str
    state: str
    created: bool = Field(description="false: the Idempotency-Key named an existing job")


class ReplayBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Stage
    reason: Reason
    force: bool = Field(
        default=False,
        description="needed to replay a stage before import-chain on a job that holds a"
        " certificate: the key, CSR and certificate are made anew",
    )


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


@router.post(
    "",
    status_code=202,
    summary="Submit a job request; the same Idempotency-Key and body return the same job",
    responses={
        200: {"description": "the job this Idempotency-Key made before", "model": JobCreated},
        400: ERROR_BODY,
        409: ERROR_BODY,
        413: ERROR_BODY,
    },
)
def create_job(
    request: Request,
    response: Response,
    job: JobRequest,
    _token: OperatorToken,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[!-~]+$"),
    ] = None,
) -> JobCreated:
    record, created = state_of(request).app.submit(job, idempotency_key=idempotency_key)
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/v1/jobs/{record.id}"
    return JobCreated(job_id=record.id, state=record.state.value, created=created)


@router.post(
    "/{job_id}/replay",
    status_code=202,
    summary="Run a stage of a failed job again and continue from there",
    responses=error_responses(404, 409),
)
def replay_job(
    request: Request,
    body: ReplayBody,
    token: OperatorToken,
    job_id: str = JOB_ID,
) -> dict[str, Any]:
    app = state_of(request).app
    job = replay(
        app.runtime, job_id, body.stage, reason=body.reason, actor=actor_of(token), force=body.force
    )
    return job.summary()


@router.post(
    "/{job_id}/cancel",
    summary="Cancel an unfinished job (a cancelled one is returned as it is); left_on_instance"
    " lists what its stages made or changed on the instance, which stays until a rollback",
    responses=error_responses(404, 409),
)
def cancel_job(
    request: Request,
    body: CancelBody,
    token: OperatorToken,
    job_id: str = JOB_ID,
) -> dict[str, Any]:
    store = state_of(request).app.store
    job = cancel(store, job_id, reason=body.reason, actor=actor_of(token))
    return {**job.summary(), "left_on_instance": left_on_instance(store.history(job_id))}
