"""One mapping from twoway's error tree to HTTP answers: the status (the table is in
:mod:`ops.gateway.status`), and a body that says what is wrong and what to do (never a
secret, never a traceback)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ops.gateway.auth import refusal_before_validation
from ops.gateway.status import status_for
from workers.errors import AuthenticationFailed, TwowayError
from workers.logs import redact_text

__all__ = ["ERROR_BODY", "error_responses", "install_error_handlers", "status_for"]

# How the OpenAPI document describes every error answer of every route.
ERROR_BODY: dict[str, Any] = {"description": "what is wrong and what to do: {error, message, hint}"}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: each status answers with :data:`ERROR_BODY`."""
    return dict.fromkeys(statuses, ERROR_BODY)


def _body(exc: TwowayError) -> dict[str, object]:
    return {k: redact_text(v) if isinstance(v, str) else v for k, v in exc.as_dict().items()}


def install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(TwowayError)
    async def _twoway(_request: Request, exc: TwowayError) -> JSONResponse:
        challenge = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else {}
        return JSONResponse(_body(exc), status_code=status_for(exc), headers=challenge)

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        refusal = await run_in_threadpool(refusal_before_validation, request)
        if refusal is not None:  # auth first: an invalid body tells a stranger nothing
            return await _twoway(request, refusal)
        errors = list(exc.errors())
        if any(err.get("type") == "json_invalid" for err in errors):
            return _unparseable(str(errors[0].get("msg", "")))
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or '(body)'}: {err['msg']}"
            for err in errors
        )
        return JSONResponse(
            {"error": "RequestInvalid", "message": problems, "hint": "fix the fields named"},
            status_code=422,
        )

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own refusals in the documented shape; the body parser's first."""
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            refusal = await run_in_threadpool(refusal_before_validation, request)
            if refusal is not None:
                return await _twoway(request, refusal)
            return _unparseable("")
        return await http_exception_handler(request, exc)


def _unparseable(why: str) -> JSONResponse:
    """A body that is not JSON at all (not UTF-8, not JSON, nested too deeply)."""
    detail = f" ({why})" if why and why != "JSON decode error" else ""
    return JSONResponse(
        {
            "error": "RequestInvalid",
            "message": f"body: not a JSON document twoway can read{detail}",
            "hint": "send one JSON object, UTF-8, nested at most a few levels, with"
            " Content-Type: application/json (see /docs)",
        },
        status_code=400,
    )
