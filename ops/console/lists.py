"""The waiting jobs, the certificates inventory and the dead letters (with requeue)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import pika.exceptions
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from ops.console.common import (
    Refused,
    app_of,
    check_csrf,
    refusal,
    render,
    require_session,
    session_of,
    signin_redirect,
)
from ops.console.jobs import PAGE
from ops.console.views import waiting_list
from ops.gateway.auth import actor_of
from ops.gateway.jobs_list import decode_cursor, encode_cursor
from ops.rabbitmq.dead_letters import DeadLetters, dead_letters_of
from workers.errors import StateConflict, TwowayError
from workers.levers.reasons import MAX_REASON, check_reason
from workers.levers.renewal import STATES, inventory_page

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
_BROKER_DOWN = (pika.exceptions.AMQPError, OSError)


@router.get("/waiting")
def waiting_page(
    request: Request, cursor: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    try:
        session = require_session(request)
    except Refused:
        return signin_redirect(request)
    try:
        rows, more = waiting_list(app_of(request), after=decode_cursor(cursor) if cursor else None)
    except TwowayError as exc:
        return refusal(request, exc, session)
    context = {
        "waiting": rows,
        "next": "?" + urlencode([("cursor", encode_cursor(*more))]) if more else None,
        "first": "?" if cursor else None,
    }
    return render(request, "waiting.html", context, session=session)


@router.get("/certificates")
def certificates_page(
    request: Request,
    instance: Annotated[str, Query(max_length=64)] = "",
    state: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """One page, soonest notAfter first (the API's query: ``inventory_page``)."""
    try:
        session = require_session(request)
    except Refused:
        return signin_redirect(request)
    now = datetime.now(UTC)
    try:
        if state and state not in STATES:
            raise Refused(400, f"state: {state[:40]!r} is not a certificate state", "pick one")
        found, after = inventory_page(
            app_of(request),
            now=now,
            instance=instance or None,
            states=[state] if state else [],
            after=decode_cursor(cursor) if cursor else None,
            limit=PAGE,
        )
    except (Refused, TwowayError) as exc:
        return refusal(request, exc, session)
    filters = [(k, v) for k, v in (("instance", instance), ("state", state)) if v]
    next_link = None
    if after is not None:
        next_link = "?" + urlencode([*filters, ("cursor", encode_cursor(*after))])
    context = {
        "certificates": [c.as_dict() | {"due": c.renewal_point <= now} for c in found],
        "next": next_link,
        "first": "?" + urlencode(filters) if cursor else None,
    }
    return render(request, "certificates.html", context, session=session)


def _dead_letters(request: Request) -> DeadLetters:
    return dead_letters_of(app_of(request))


@router.get("/dead-letters")
def dead_letters_page(request: Request, done: str | None = None) -> Response:
    try:
        session = require_session(request)
    except Refused:
        return signin_redirect(request)
    now, error, kept_nowhere = datetime.now(UTC), None, None
    try:
        letters = [letter.summary(now) for letter in _dead_letters(request).peek()]
    except StateConflict as exc:  # what the API answers (409) on the stub broker
        letters, kept_nowhere = [], {"message": exc.message, "hint": exc.hint}
    except _BROKER_DOWN as exc:
        letters, error = [], f"the broker cannot be read ({type(exc).__name__})"
    context = {"letters": letters, "error": error, "kept_nowhere": kept_nowhere}
    return render(request, "dead_letters.html", context | {"done": done == "1"}, session=session)


@router.post("/dead-letters/requeue")
def requeue(
    request: Request,
    csrf: Annotated[str, Form(max_length=100)] = "",
    message_id: Annotated[str, Form(max_length=100)] = "",
    reason: Annotated[str, Form(max_length=MAX_REASON + 100)] = "",
) -> Response:
    """Back to its stage's queue, the job revived (as the CLI and the API do)."""
    session = session_of(request)
    try:
        session = require_session(request, "operator")
        check_csrf(session, csrf)
        why = check_reason(reason, what="a requeue")
        outcomes = _dead_letters(request).replay(
            wanted=lambda letter: letter.message_id == message_id,
            actor=actor_of(session.token),
            reason=why,
        )
    except (Refused, TwowayError) as exc:
        return refusal(request, exc, session)
    except _BROKER_DOWN as exc:
        return refusal(
            request, Refused(503, f"the broker cannot be reached ({type(exc).__name__})"), session
        )
    if not outcomes:
        return refusal(
            request, Refused(404, "no dead letter with that message id", "reload the list"), session
        )
    refused = [o.detail for o in outcomes if not o.done]
    if refused:
        return refusal(request, Refused(409, refused[0]), session)
    return RedirectResponse("/ui/dead-letters?done=1", status_code=303)
