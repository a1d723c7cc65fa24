"""Bearer tokens on the gateway: ``require(role)`` guards a route.

Roles: ``read`` (jobs, their histories, CSRs and client certificates) and ``operator``
(``read``, plus submitting, replaying and cancelling jobs). Tokens are made with
``twoway tokens create``; the store keeps only their digests. A request without a token,
or with a malformed, unknown or revoked one, is answered 401; a token whose role does
not allow the route, 403. The token never reaches a log: a refusal logs at most the
token's id (its public part) as ``bearer_id``. ``/healthz``, the OpenAPI document and the
CA callback (which has its own HMAC signature) are not guarded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ops.gateway.state import state_of
from workers.errors import AuthenticationFailed, PermissionDenied, TwowayError
from workers.store.tokens import Role, TokenRecord

__all__ = ["OperatorToken", "ReadToken", "actor_of", "refusal_before_validation", "require"]

_log = structlog.get_logger("twoway.gateway")
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="a token made with 'twoway tokens create --role read|operator'",
)


def _token_id(token: str) -> str | None:
    parts = token.split("_")
    return parts[1][:12] if len(parts) >= 3 and parts[0] == "twoway" else None


def require(role: Role) -> Any:
    """A dependency that admits requests bearing a valid token of ``role`` or above."""

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenRecord:
        record = _verify(request, credentials, role)
        request.state.token = record
        return record

    _ROLE_OF[check] = role
    return Depends(check)


_ROLE_OF: dict[Callable[..., Any], Role] = {}


def _verify(
    request: Request, credentials: HTTPAuthorizationCredentials | None, role: Role
) -> TokenRecord:
    if credentials is None:
        _refuse(request, "no bearer token")
        raise AuthenticationFailed(
            "this needs a bearer token (Authorization: Bearer <token>)",
            hint="ask an operator for one: twoway tokens create --role read",
        )
    token = credentials.credentials
    record = state_of(request).app.store.tokens.verify(token)
    if record is None:
        _refuse(request, "unknown or revoked token", bearer_id=_token_id(token))
        raise AuthenticationFailed(
            "the bearer token is not valid (malformed, unknown or revoked)",
            hint="check the token, or ask an operator for a new one",
        )
    if not record.allows(role):
        _refuse(request, "role too low", bearer_id=record.id, role=record.role)
        raise PermissionDenied(
            f"token {record.name!r} has the role {record.role!r}; this needs {role!r}",
            hint=f"use a token made with --role {role}",
        )
    return record


ReadToken = Annotated[TokenRecord, require("read")]
OperatorToken = Annotated[TokenRecord, require("operator")]


def actor_of(token: TokenRecord) -> str:
    """Who a history records as having asked: the token's name and id."""
    return f"token:{token.name} ({token.id})"


def _refuse(request: Request, reason: str, **detail: Any) -> None:
    _log.warning(
        "auth_refused",
        reason=reason,
        method=request.method,
        path=request.url.path,
        **{k: v for k, v in detail.items() if v is not None},
    )


def refusal_before_validation(request: Request) -> TwowayError | None:
    """The 401/403 a guarded route owes ``request``, if any: asked when its body or
    parameters are invalid, so that an unauthenticated caller learns nothing about what
    the route takes (auth first, then validation)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    role = _role_needed(dependant) if dependant is not None else None
    if role is None:
        return None
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    credentials = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    try:
        _verify(request, credentials, role)
    except TwowayError as exc:
        return exc
    return None


def _role_needed(dependant: Any) -> Role | None:
    for sub in dependant.dependencies:
        role = _ROLE_OF.get(sub.call) or _role_needed(sub)
        if role is not None:
            return role
    return None
