"""Listing jobs (filtered, paginated by cursor; those waiting for their CA) and fetching a
job's client certificate."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from messages import WAITING_STATES, JobState, Stage
from ops.gateway.auth import require
from ops.gateway.errors import ERROR_BODY
from ops.gateway.jobs_read import JOB_ID
from ops.gateway.state import state_of
from workers.errors import RequestInvalid, StateConflict
from workers.levers.waiting import waiting_page
from workers.store.artifacts import Artifact

__all__ = ["decode_cursor", "encode_cursor", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[require("read")])
_CERTIFICATE = {  # format: (artifact, media type, file extension)
    "pem": (Artifact.CLIENT_CERT_PEM, "application/x-pem-file", "pem"),
    "der": (Artifact.CLIENT_CERT_DER, "application/pkix-cert", "cer"),
}


def encode_cursor(created_at: datetime, job_id: str) -> str:
    raw = f"{created_at.isoformat()}|{job_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, job_id = raw.split("|")
        when = datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise RequestInvalid(
            "cursor: not a cursor this gateway handed out",
            hint="follow the 'next' link of the previous page as it is",
        ) from exc
    if when.tzinfo is None or len(job_id) != 32:
        raise RequestInvalid("cursor: not a cursor this gateway handed out")
    return when, job_id


@router.get("", summary="Jobs, newest first, by state, stage, instance and target; 'next' pages on")
def list_jobs(
    request: Request,
    state: Annotated[list[JobState] | None, Query(description="repeatable")] = None,
    stage: Stage | None = None,
    instance: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    store = state_of(request).app.store
    found = store.list_jobs(
        states=state or [],
        stage=stage,
        instance=instance,
        target=target,
        limit=limit + 1,
        after=decode_cursor(cursor) if cursor else None,
    )
    page, more = found[:limit], len(found) > limit
    next_link = None
    if more:
        last = page[-1]
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query.append(("cursor", encode_cursor(last.created_at, last.id)))
        next_link = f"{request.url.path}?{urlencode(query)}"
    return {"jobs": [job.summary() for job in page], "next": next_link}


@router.get(
    "/waiting",
    summary="Paused jobs (for their CA or the third party): what for, since when, deadline;"
    " the longest waiting first, 'next' pages on",
)
def waiting(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    app = state_of(request).app
    now = datetime.now(UTC)
    after = decode_cursor(cursor) if cursor else None
    found, more = waiting_page(app.store, app.config, WAITING_STATES, after=after, limit=limit)
    next_link = None
    if more is not None:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query.append(("cursor", encode_cursor(*more)))
        next_link = f"{request.url.path}?{urlencode(query)}"
    return {"jobs": [w.summary(now) for w in found], "next": next_link}


@router.get(
    "/{job_id}/client-certificate",
    summary="The job's client certificate, for the third party to trust (runbook step C)",
    response_class=Response,
    responses={
        200: {"content": {"application/x-pem-file": {}, "application/pkix-cert": {}}},
        404: ERROR_BODY,
        409: ERROR_BODY,
    },
)
def client_certificate(
    request: Request,
    job_id: str = JOB_ID,
    fmt: Annotated[Literal["pem", "der"], Query(alias="format")] = "pem",
) -> Response:
    store = state_of(request).app.store
    job = store.get_job(job_id)
    artifact, media_type, extension = _CERTIFICATE[fmt]
    data = store.artifacts.get(job.id, artifact)
    if data is None:
        where = job.stage.value if job.stage else "not started"
        raise StateConflict(
            f"job {job.id} has no client certificate yet ({job.state.value}, at {where})",
            hint="it exists once 'import-chain' has run; GET /v1/jobs/{id} shows where the"
            " job stands",
        )
    disposition = f'attachment; filename="client-cert-{job.id}.{extension}"'
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})
