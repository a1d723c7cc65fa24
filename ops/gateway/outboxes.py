"""The revocation and notification outboxes, for an operator: what was revoked, what a
person was asked to revoke, which notifications went out and which were given up
(docs/lifecycle.md). Read-only; the revoker and the notifier work the rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ops.gateway.auth import ReadToken
from ops.gateway.state import state_of
from workers.errors import RequestInvalid
from workers.logs import redact_text
from workers.store.lifecycle import OutboxRow, OutboxRows

__all__ = ["router"]

router = APIRouter(tags=["lifecycle"])
_JOB_ID = Query(pattern=r"^[0-9a-f]{32}$", description="only this job's rows (32 hex digits)")


def _shown(row: OutboxRow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.values.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif name == "last_error" and isinstance(value, str):
            value = redact_text(value)
        out[name] = value
    return out


def _listing(
    rows: OutboxRows, what: str, state: str | None, job_id: str | None, limit: int
) -> dict[str, Any]:
    if state is not None and state not in rows.STATES:
        raise RequestInvalid(
            f"state {state!r} is not a state of the {what} outbox",
            hint="use one of " + ", ".join(rows.STATES),
        )
    found = rows.newest(state=state, job_id=job_id, limit=limit)
    return {"counts": rows.counts(), what: [_shown(r) for r in found], "limit": limit}


@router.get(
    "/v1/revocations",
    summary="Certificates twoway revokes or revoked: newest first, with each one's state"
    " (pending, done, asked: a person must ask the CA, failed) and counts per state",
)
def list_revocations(
    request: Request,
    _token: ReadToken,
    state: Annotated[str | None, Query(max_length=20)] = None,
    job_id: Annotated[str | None, _JOB_ID] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    store = state_of(request).app.store
    return _listing(store.revocations, "revocations", state, job_id, limit)


@router.get(
    "/v1/notifications",
    summary="Notifications per event and channel: newest first, with each one's state"
    " (pending, sent, dead: given up) and counts per state",
)
def list_notifications(
    request: Request,
    _token: ReadToken,
    state: Annotated[str | None, Query(max_length=20)] = None,
    job_id: Annotated[str | None, _JOB_ID] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    store = state_of(request).app.store
    return _listing(store.notifications, "notifications", state, job_id, limit)
