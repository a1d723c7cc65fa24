"""What every console route shares: templates, the session, rendering and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ops.console.session import Session, Sessions
from ops.console.views import human_duration, is_waiting
from ops.gateway.errors import status_for
from ops.gateway.state import state_of
from workers.app import App
from workers.errors import TwowayError
from workers.logs import redact_text
from workers.store.tokens import Role

__all__ = [
    "HERE",
    "SECURITY_HEADERS",
    "Refused",
    "app_of",
    "check_csrf",
    "refusal",
    "render",
    "require_session",
    "session_of",
    "sessions_of",
    "signin_redirect",
]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(human_duration=human_duration, is_waiting=is_waiting)
templates.env.filters["when"] = lambda iso: (iso or "")[:19].replace("T", " ")

# Nothing from outside the gateway: scripts, styles, images and forms stay on it.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';"
    " img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none';"
    " base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


class Refused(Exception):
    """A page that says no: the status and what to do."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


def app_of(request: Request) -> App:
    return state_of(request).app


def sessions_of(request: Request) -> Sessions:
    state = state_of(request)
    sessions = state.extra.get("console_sessions")
    if sessions is None:
        sessions = state.extra["console_sessions"] = Sessions(state.app.store)
    assert isinstance(sessions, Sessions)
    return sessions


def session_of(request: Request) -> Session | None:
    return sessions_of(request).of(request)


def signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/signin?next={quote(target, safe='')}", status_code=303)


def require_session(request: Request, role: Role = "read") -> Session:
    """The session, or Refused: 401 without one, 403 when its token's role is too low."""
    session = session_of(request)
    if session is None:
        raise Refused(401, "you are not signed in, or your session has ended", "sign in again")
    if not session.can(role):
        raise Refused(
            403,
            f"token {session.token.name!r} has the role {session.token.role!r};"
            f" this needs {role!r}",
            "sign in with an operator token",
        )
    return session


def check_csrf(session: Session, offered: str | None) -> None:
    if not session.csrf_ok(offered):
        raise Refused(
            403,
            "this form's CSRF token is missing or does not belong to your session",
            "reload the page and send the form again",
        )


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    session: Session | None,
    status: int = 200,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, {"session": session, **context}, status_code=status
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def refusal(request: Request, refused: Refused | TwowayError, session: Session | None) -> Response:
    """A page that says what was refused and what to do, with the API's status."""
    if isinstance(refused, TwowayError):
        body = refused.as_dict()
        status = status_for(refused)
        message = redact_text(str(body.get("message", "")))
        hint = redact_text(str(body.get("hint") or ""))
        check = body.get("check")
    else:
        status, message, hint, check = refused.status, refused.message, refused.hint, None
    context = {"status": status, "message": message, "hint": hint, "check": check}
    return render(request, "refused.html", context, session=session, status=status)
