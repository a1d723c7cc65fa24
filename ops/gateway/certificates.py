"""Certificates twoway manages, and renewing one (issue: renewal and rotation)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ops.gateway.auth import OperatorToken, ReadToken, actor_of
from ops.gateway.jobs_read import JOB_ID
from ops.gateway.state import state_of
from workers.levers.reasons import MAX_REASON
from workers.levers.renewal import inventory, renew

__all__ = ["RenewBody", "router"]

router = APIRouter(tags=["certificates"])
_ERROR = {"description": "what is wrong and what to do: {error, message, hint}"}


class RenewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)] = "renewed on request"


@router.get(
    "/v1/certificates",
    summary="Every certificate twoway manages: target, profile, keystore record, notAfter,"
    " days left, the job that made it and its renewal state",
)
def list_certificates(request: Request, _token: ReadToken) -> dict[str, Any]:
    found = inventory(state_of(request).app)
    return {"certificates": [certificate.as_dict() for certificate in found]}


@router.post(
    "/v1/jobs/{job_id}/renew",
    status_code=202,
    summary="Renew a succeeded job's certificate (a renewal already running is returned)",
    responses={404: _ERROR, 409: _ERROR},
)
def renew_job(
    request: Request, token: OperatorToken, body: RenewBody | None = None, job_id: str = JOB_ID
) -> dict[str, Any]:
    reason = body.reason if body else RenewBody().reason
    job, created = renew(state_of(request).app, job_id, actor=actor_of(token), reason=reason)
    return {**job.summary(), "created": created}
