"""Signing in with an API token, and out again."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import unquote, urlsplit

import structlog
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from ops.console.common import (
    Refused,
    check_csrf,
    refusal,
    render,
    require_session,
    session_of,
    sessions_of,
)

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
_log = structlog.get_logger("twoway.console")
_PRE = "twoway_console_signin"  # the sign-in form's own CSRF cookie (before any session)


def _safe_next(target: str | None) -> str:
    """Only a page of the console: never another site (an open redirect), nor a page
    outside /ui reached by dot segments, encoded (``%2e%2e``) or not."""
    home = "/ui/jobs"
    if not target:
        return home
    parts = urlsplit(target)
    path = parts.path
    for _ in range(3):  # %252e%252e decodes twice; a path that keeps changing is refused
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        return home
    segments = path.split("/")
    if (
        parts.scheme
        or parts.netloc
        or not path.startswith("/ui/")
        or "" in segments[2:-1]  # '//' inside: some clients read it as another host
        or any(s in (".", "..") for s in segments)
        or "\\" in path
        or not path.isprintable()
    ):
        return home
    return target


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse("/ui/jobs", status_code=303)


@router.get("/signin")
def signin_page(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    return _signin_form(request, _safe_next(next), error=None, status=200)


def _signin_form(request: Request, target: str, *, error: str | None, status: int) -> Response:
    csrf = secrets.token_urlsafe(24)
    context = {"csrf": csrf, "next": target, "error": error}
    response = render(request, "signin.html", context, session=None, status=status)
    response.set_cookie(
        _PRE, csrf, max_age=900, path="/ui/signin", httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/signin")
def signin(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    expected = request.cookies.get(_PRE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
        refused = Refused(403, "the sign-in form's CSRF token is missing or wrong", "reload it")
        return refusal(request, refused, None)
    record = request.app.state.twoway.app.store.tokens.verify(token.strip())
    if record is None:
        remote = request.client.host if request.client else None
        _log.warning("console_signin_refused", reason="unknown or revoked token", remote=remote)
        error = "that token is not valid (malformed, unknown or revoked)"
        return _signin_form(request, _safe_next(next), error=error, status=401)
    _log.info("console_signed_in", token_id=record.id, role=record.role)
    response = RedirectResponse(_safe_next(next), status_code=303)
    sessions_of(request).start(response, record, secure=request.url.scheme == "https")
    response.delete_cookie(_PRE, path="/ui/signin")
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    session = session_of(request)
    try:
        checked = require_session(request)
        check_csrf(checked, csrf)
    except Refused as exc:
        return refusal(request, exc, session)
    response = RedirectResponse("/ui/signin", status_code=303)
    sessions_of(request).end(response, checked)
    return response
