"""The console's sign-in session: a sealed cookie that names a token, never holds it.

Signing in checks an API token against the token store (the same check as the bearer
header); the cookie then carries, sealed with the store's master key (Fernet: encrypted
and authenticated), the token's *id*, a random session id, a CSRF secret and an expiry.
Every request opens the cookie and reads the token's record again, so a revoked token
ends its sessions at once. Signing out remembers the session id as ended until the cookie
would have expired anyway (in this process: with ``twoway gateway --processes N`` the
other processes forget it; the cookie itself is deleted from the browser either way).
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass

from fastapi import Request, Response

from workers.errors import TwowayError
from workers.store import Store
from workers.store.tokens import Role, TokenRecord

__all__ = ["COOKIE", "LIFETIME_S", "Session", "Sessions"]

COOKIE = "twoway_console"
LIFETIME_S = 8 * 3600


@dataclass(frozen=True)
class Session:
    id: str
    token: TokenRecord
    csrf: str
    expires: float

    def can(self, role: Role) -> bool:
        return self.token.allows(role)

    def csrf_ok(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.csrf.encode())


class Sessions:
    def __init__(self, store: Store, *, lifetime_s: int = LIFETIME_S) -> None:
        self._store = store
        self.lifetime_s = lifetime_s
        self._ended: dict[str, float] = {}  # session id -> when its cookie expires
        self._lock = threading.Lock()

    def start(self, response: Response, token: TokenRecord, *, secure: bool) -> Session:
        session = Session(
            id=secrets.token_urlsafe(16),
            token=token,
            csrf=secrets.token_urlsafe(24),
            expires=time.time() + self.lifetime_s,
        )
        payload = {"sid": session.id, "tid": token.id, "csrf": session.csrf, "exp": session.expires}
        sealed = self._store.artifacts.seal(json.dumps(payload).encode()).decode("ascii")
        response.set_cookie(
            COOKIE,
            sealed,
            max_age=self.lifetime_s,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=secure,
        )
        return session

    def of(self, request: Request) -> Session | None:
        """The request's live session, or None (no cookie, tampered, expired, ended, revoked)."""
        sealed = request.cookies.get(COOKIE)
        if not sealed:
            return None
        try:
            payload = json.loads(self._store.artifacts.open(sealed.encode("ascii"), True))
            sid, tid, csrf, expires = (payload[k] for k in ("sid", "tid", "csrf", "exp"))
        except (TwowayError, ValueError, KeyError, TypeError, UnicodeEncodeError):
            return None
        if float(expires) < time.time() or self._is_ended(str(sid)):
            return None
        token = self._store.tokens.by_id(str(tid))
        if token is None or token.revoked_at is not None:
            return None
        return Session(str(sid), token, str(csrf), float(expires))

    def end(self, response: Response, session: Session | None) -> None:
        if session is not None:
            with self._lock:
                now = time.time()
                self._ended = {k: v for k, v in self._ended.items() if v > now}
                self._ended[session.id] = session.expires
        response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")

    def _is_ended(self, sid: str) -> bool:
        with self._lock:
            return sid in self._ended
