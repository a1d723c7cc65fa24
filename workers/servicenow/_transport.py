"""The HTTP transport: one session, auth, timeouts, error translation and safe retries."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import requests

from workers.errors import RateLimited, ServiceNowUnavailable, TwowayError
from workers.servicenow import _wire as wire
from workers.servicenow._translate import error_from_response, maybe_sent, transport_error
from workers.servicenow.auth import BasicAuth, CallRecord, OAuthPassword, TokenCache

__all__ = ["CallGate", "Transport"]


class CallGate(Protocol):
    """What bounds the calls in flight to one instance: ``hold()`` is held around each
    HTTP call (not around the waits between retries); it may raise ``InstanceBusy``."""

    def hold(self) -> AbstractContextManager[object]: ...


def _session_for(base_url: str) -> requests.Session:
    """A session with the environment's proxy and CA-bundle settings read once, here.

    requests otherwise re-reads the environment (proxies, NO_PROXY) on every call, which
    cost half a millisecond of CPU per call (twoway bench). HTTPS_PROXY, NO_PROXY and
    REQUESTS_CA_BUNDLE still apply; they are read when the client is made.
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session


class Transport:
    """Sends one logical call, retrying only where ``Req.safe`` says a retry is harmless."""

    def __init__(
        self,
        base_url: str,
        auth: BasicAuth | OAuthPassword,
        *,
        timeout: tuple[float, float],
        retries: int,
        backoff: float,
        max_wait: float,
        observer: Callable[[CallRecord], None] | None,
        verify: bool | str,
        gate: CallGate | None = None,
    ) -> None:
        self._base = base_url
        self._gate = gate
        self._auth = auth
        self._timeout = timeout
        self._retries = max(retries, 0)
        self._backoff = backoff
        self._max_wait = max_wait
        self._observer = observer
        self._session = _session_for(base_url)
        self._verify = self._session.verify if verify is True else verify
        self._tokens = TokenCache(self._fetch_token) if isinstance(auth, OAuthPassword) else None
        self.sleep: Callable[[float], None] = time.sleep

    def close(self) -> None:
        self._session.close()

    def _fetch_token(self) -> dict[str, Any]:
        assert isinstance(self._auth, OAuthPassword)
        path = self._auth.token_path
        secrets = (
            self._auth.password.get_secret_value(),
            self._auth.client_secret.get_secret_value(),
        )
        req = wire.Req(
            "POST",
            path,
            path,
            form=self._auth.grant_form(),
            authed=False,
            retry_safe=True,
            secrets=secrets,
        )
        try:
            body = self.send(req).json()
        except ValueError as exc:
            raise ServiceNowUnavailable(f"{req.what}: the answer is not JSON") from exc
        return body if isinstance(body, dict) else {}

    def send(self, req: wire.Req) -> requests.Response:
        attempt, refreshed = 0, False
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                resp, bearer = self._attempt(req)
            except requests.RequestException as exc:
                failure = transport_error(exc, req.what)
                again = (req.safe or not maybe_sent(exc)) and attempt <= self._retries
                self._report(req, None, started, attempt, "retry" if again else "error")
                if not again:
                    raise failure from exc
                self.sleep(self._backoff_s(attempt))
                continue
            status = resp.status_code
            if (
                status < 400
                or status in req.ok_statuses
                or (status == 404 and req.missing_ok_on_retry and attempt > 1)
            ):
                self._report(req, status, started, attempt, "ok")
                return resp
            if status == 401 and bearer is not None and not refreshed and self._tokens:
                self._tokens.invalidate(bearer)  # expired or revoked: fetch a new one, once
                refreshed = True
                self._report(req, status, started, attempt, "retry")
                continue
            err = error_from_response(resp, req.what, req.secrets + self._auth_secrets())
            outcome, delay = self._retry_plan(req, err, attempt)
            self._report(req, status, started, attempt, outcome)
            if delay is None:
                raise err
            self.sleep(delay)

    def _attempt(self, req: wire.Req) -> tuple[requests.Response, str | None]:
        headers = {"Accept": req.accept}
        if req.content_type is not None:
            headers["Content-Type"] = req.content_type
        elif req.json is not None:
            headers["Content-Type"] = "application/json"
        bearer: str | None = None
        basic: tuple[str, str] | None = None
        if req.authed and self._tokens is not None:
            bearer = self._tokens.bearer()  # outside the slot: a token fetch takes its own
            headers["Authorization"] = f"Bearer {bearer}"
        elif req.authed and isinstance(self._auth, BasicAuth):
            basic = (self._auth.username, self._auth.password.get_secret_value())
        with self._gate.hold() if self._gate is not None else nullcontext():
            return self._request(req, headers, basic), bearer

    def _request(
        self, req: wire.Req, headers: dict[str, str], basic: tuple[str, str] | None
    ) -> requests.Response:
        return self._session.request(
            req.method,
            self._base + req.path,
            params=dict(req.params),
            json=dict(req.json) if req.json is not None else None,
            data=req.data if req.data is not None else req.form,
            headers=headers,
            auth=basic,
            timeout=self._timeout,
            verify=self._verify,
            allow_redirects=False,
        )

    def _retry_plan(
        self, req: wire.Req, err: TwowayError, attempt: int
    ) -> tuple[str, float | None]:
        if not req.safe or attempt > self._retries:
            return "error", None
        if isinstance(err, RateLimited):
            if err.retry_after <= self._max_wait:
                return "wait", err.retry_after
            return "error", None
        if isinstance(err, ServiceNowUnavailable):
            return "retry", self._backoff_s(attempt)
        return "error", None

    def _backoff_s(self, attempt: int) -> float:
        ceiling = min(self._max_wait, self._backoff * 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret

    def _report(
        self, req: wire.Req, status: int | None, started: float, attempt: int, outcome: str
    ) -> None:
        if self._observer is not None:
            duration = time.monotonic() - started
            self._observer(CallRecord(req.method, req.template, status, duration, attempt, outcome))

    def _auth_secrets(self) -> tuple[str, ...]:
        if isinstance(self._auth, OAuthPassword):
            return (
                self._auth.password.get_secret_value(),
                self._auth.client_secret.get_secret_value(),
            )
        return (self._auth.password.get_secret_value(),)
