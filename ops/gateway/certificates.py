"""Certificates twoway manages, and renewing one (issue: renewal and rotation)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ops.gateway.auth import OperatorToken, ReadToken, actor_of
from ops.gateway.errors import error_responses
from ops.gateway.jobs_list import decode_cursor, encode_cursor
from ops.gateway.jobs_read import JOB_ID
from ops.gateway.state import state_of
from workers.levers.reasons import MAX_REASON
from workers.levers.renewal import STATES, inventory_page, renew

__all__ = ["RenewBody", "router"]

router = APIRouter(tags=["certificates"])
CertificateState = Enum("CertificateState", {s: s for s in STATES}, type=str)  # type: ignore[misc]


class RenewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)] = "renewed on request"


@router.get(
    "/v1/certificates",
    summary="Every certificate twoway manages: target, profile, keystore record, notAfter,"
    " days left, the job that made it and its renewal state",
)
def list_certificates(
    request: Request,
    _token: ReadToken,
    instance: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[list[CertificateState] | None, Query(description="repeatable")] = None,
    days_left: Annotated[
        float | None, Query(ge=-36500, le=36500, description="notAfter within this many days")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Soonest notAfter first, one page (``next`` pages on, by keyset on notAfter)."""
    found, after = inventory_page(
        state_of(request).app,
        instance=instance,
        states=[s.value for s in state or []],
        days_left=days_left,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    next_link = None
    if after is not None:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query.append(("cursor", encode_cursor(*after)))
        next_link = f"{request.url.path}?{urlencode(query)}"
    return {"certificates": [c.as_dict() for c in found], "next": next_link}


@router.post(
    "/v1/jobs/{job_id}/renew",
    status_code=202,
    summary="Renew a succeeded job's certificate (a renewal already running is returned)",
    responses=error_responses(404, 409),
)
def renew_job(
    request: Request, token: OperatorToken, body: RenewBody | None = None, job_id: str = JOB_ID
) -> dict[str, Any]:
    reason = body.reason if body else RenewBody().reason
    job, created = renew(state_of(request).app, job_id, actor=actor_of(token), reason=reason)
    return {**job.summary(), "created": created}
