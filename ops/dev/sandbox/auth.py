"""Users, Basic authentication and the OAuth password grant (servicenow-api.md 5.5).

Two users: the integration user (roles ``admin`` unless the sandbox is started with other
roles, e.g. only ``web_service_admin``), and a user with no role (ACLs refuse it on admin
tables). Passwords and the OAuth client secret are random per server.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from ops.dev.sandbox.wire import Request, Response, json_body

__all__ = ["INTEGRATION_ROLES", "TOKEN_LIFETIME", "Auth", "User"]

INTEGRATION_ROLES = ("admin",)

TOKEN_LIFETIME = 1799


@dataclass(frozen=True)
class User:
    username: str
    password: str
    full_name: str
    roles: frozenset[str]

    @property
    def admin(self) -> bool:
        return "admin" in self.roles


def _new_password() -> str:
    return secrets.token_urlsafe(18)


class Auth:
    """Who may call, and the bearer tokens handed out by ``/oauth_token.do``."""

    def __init__(
        self,
        admin_password: str | None = None,
        integration_roles: tuple[str, ...] = INTEGRATION_ROLES,
    ) -> None:
        password = admin_password or _new_password()
        roles = frozenset(integration_roles)
        self.admin = User("twoway.integration", password, "Twoway Integration", roles)
        self.readonly = User("twoway.readonly", _new_password(), "Twoway Read Only", frozenset())
        self.client_id = secrets.token_hex(16)
        self.client_secret = _new_password()
        self._lock = threading.Lock()
        self._access: dict[str, tuple[str, float]] = {}
        self._refresh: dict[str, str] = {}

    def users(self) -> tuple[User, ...]:
        return (self.admin, self.readonly)

    def user(self, username: str) -> User | None:
        return next((u for u in self.users() if u.username == username), None)

    def check_password(self, username: str, password: str) -> User | None:
        user = self.user(username)
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            return None
        return user

    def authenticate(self, header: str | None) -> User | None:
        """The user an ``Authorization`` header (Basic or Bearer) proves, if any."""
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            username, _, password = decoded.partition(":")
            return self.check_password(username, password)
        if scheme.lower() == "bearer":
            with self._lock:
                username, expiry = self._access.get(credentials.strip(), ("", 0.0))
            return self.user(username) if expiry > time.monotonic() else None
        return None

    def _grant(self, username: str) -> dict[str, object]:
        access, refresh = secrets.token_urlsafe(64), secrets.token_urlsafe(64)
        with self._lock:
            self._access[access] = (username, time.monotonic() + TOKEN_LIFETIME)
            self._refresh[refresh] = username
        return {
            "access_token": access,
            "refresh_token": refresh,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }

    def token_endpoint(self, form: dict[str, str]) -> Response:
        """``POST /oauth_token.do``: the password and refresh_token grants."""
        denied = json_body(401, {"error_description": "access_denied", "error": "server_error"})
        client_ok = hmac.compare_digest(form.get("client_id", ""), self.client_id) and (
            hmac.compare_digest(form.get("client_secret", ""), self.client_secret)
        )
        if not client_ok:
            return denied
        grant = form.get("grant_type", "")
        if grant == "password":
            user = self.check_password(form.get("username", ""), form.get("password", ""))
            return json_body(200, self._grant(user.username)) if user else denied
        if grant == "refresh_token":
            with self._lock:
                username = self._refresh.get(form.get("refresh_token", ""))
            return json_body(200, self._grant(username)) if username else denied
        return json_body(
            400, {"error_description": "unsupported grant_type", "error": "unsupported_grant_type"}
        )

    def is_admin(self, request: Request) -> bool:
        user = self.user(request.user)
        return user is not None and user.admin
