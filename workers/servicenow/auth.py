"""Credentials for the instance: basic auth or the OAuth password grant.

Secrets are ``SecretStr``: they show as ``'**********'`` in reprs and logs and are only
unwrapped at the moment a request is sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from workers.errors import ServiceNowRejected

__all__ = ["BasicAuth", "CallRecord", "OAuthPassword"]


class BasicAuth(BaseModel):
    """HTTP basic auth with the integration user's name and password."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(min_length=1)
    password: SecretStr


class OAuthPassword(BaseModel):
    """OAuth 2.0 password grant at ``/oauth_token.do`` (servicenow-api.md 5.5)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    username: str = Field(min_length=1)
    password: SecretStr
    token_path: str = "/oauth_token.do"  # noqa: S105 - a path, not a secret

    def grant_form(self) -> dict[str, str]:
        """The form body of the token request (holds secrets: never log it)."""
        return {
            "grant_type": "password",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            "username": self.username,
            "password": self.password.get_secret_value(),
        }


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, as the pipeline's history and metrics see it.

    ``outcome`` is ``ok``, ``retry`` (failed, will be tried again after a backoff), ``wait``
    (429, will be tried again after the wait the instance asked for) or ``error`` (raised).
    """

    method: str
    path_template: str
    status: int | None
    duration_s: float
    attempt: int
    outcome: str


class TokenCache:
    """A bearer token, fetched on first use and again once it expires or is refused."""

    _MARGIN_S = 30.0

    def __init__(self, fetch: Callable[[], dict[str, Any]]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def bearer(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._refresh()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (another thread may have renewed)."""
        with self._lock:
            if self._token == token:
                self._token = None

    def _refresh(self) -> None:
        body = self._fetch()
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ServiceNowRejected(
                "the OAuth token answer holds no access_token",
                status_code=200,
                hint="check that the OAuth application allows the password grant",
            )
        try:
            lifetime = float(body.get("expires_in", 1800))
        except (TypeError, ValueError):
            lifetime = 1800.0
        self._token = token
        self._expires_at = time.monotonic() + max(lifetime - self._MARGIN_S, 1.0)
