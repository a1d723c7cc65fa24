"""Calls authenticated by a signature instead of a token: the CA's callback and the
request workflow's "installed". The signer sends ``X-Twoway-Timestamp`` and
``X-Twoway-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + job id + "." +
raw body)>`` (:mod:`workers.callback_signing`).

What both share: reading the call (``signed_call``, a dependency), checking the signature
(``SignedCall.authenticate``), and the cost of a refusal. One before the signature holds
(401, 403) writes nothing to the job and publishes nothing: it is counted, logged and
throttled per client and per job (:mod:`ops.gateway.throttle`). One after it (400, 409)
is written into the job's history, at most ``KEPT_PER_JOB`` per job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import structlog
from fastapi import Header, Request

from ops.gateway.errors import status_for
from ops.gateway.jobs_read import JOB_ID
from ops.gateway.state import state_of
from ops.gateway.throttle import KEPT_PER_JOB, Throttle
from workers.app import App
from workers.callback_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, WINDOW_S, check_signature
from workers.errors import AuthenticationFailed, PermissionDenied, TooManyRefusals, TwowayError

__all__ = ["KEEP", "SignedCall", "refuse_authenticated", "signed_call"]

_log = structlog.get_logger("twoway.gateway")
KEEP = timedelta(seconds=2 * WINDOW_S)  # a signature outside the window is refused anyway


@dataclass(frozen=True)
class SignedCall:
    """One signed call as it arrived: for the job in its path, with its raw body."""

    app: App
    throttle: Throttle
    job_id: str
    timestamp: str | None
    signature: str | None
    body: bytes
    remote: str | None

    def authenticate(self, job_id: str, secret: Callable[[], bytes]) -> str:
        """The signature, normalised, if it holds for ``job_id``; else refused at no cost
        to the job (or 429, throttled)."""
        try:
            return check_signature(
                secret(), self.timestamp, self.signature, self.body, job_id=job_id
            )
        except (AuthenticationFailed, PermissionDenied) as exc:
            refusal = _throttled(self.throttle, job_id, self.remote) or exc
            _refuse_unauthenticated(self.app, job_id, refusal, self.remote)


async def signed_call(
    request: Request,
    job_id: str = JOB_ID,
    timestamp: str | None = Header(None, alias=TIMESTAMP_HEADER, description="Unix seconds"),
    signature: str | None = Header(
        None,
        alias=SIGNATURE_HEADER,
        description="sha256=<hex HMAC-SHA256(secret, timestamp + '.' + job id + '.' + raw body)>",
    ),
) -> SignedCall:
    body = await request.body()  # at most the gateway's body limit (ops/gateway/limits.py)
    state = state_of(request)
    remote = request.client.host if request.client else None
    return SignedCall(
        state.app, state.callback_throttle, job_id, timestamp, signature, body, remote
    )


def _throttled(throttle: Throttle, job_id: str, remote: str | None) -> TwowayError | None:
    """429 for a client or a job past its refusals (counted here); a callback whose
    signature is good is never throttled, so a flood cannot keep a job waiting."""
    client, job = f"client:{remote}", f"job:{job_id}"
    whom = "this client" if throttle.over(client) else "this job" if throttle.over(job) else None
    throttle.hit(client, job)
    return None if whom is None else _too_many(whom, throttle)


def _too_many(whom: str, throttle: Throttle) -> TooManyRefusals:
    return TooManyRefusals(
        f"too many refused callbacks from {whom} in the last {throttle.window_s:.0f} s",
        hint="sign each callback for its job (docs/cas.md, the callback section), then retry",
    )


def _refuse_unauthenticated(
    app: App, job_id: str, exc: TwowayError, remote: str | None
) -> NoReturn:
    """A refusal before the signature proved anything: it costs the job nothing (no event,
    no message), only a metric and a log line."""
    status = status_for(exc)
    app.deps.metrics.callback_refusals.labels(str(status)).inc()
    _log.warning("callback_refused", job_id=job_id, status=status, **exc.as_dict(), remote=remote)
    raise exc


def refuse_authenticated(app: App, job_id: str, exc: TwowayError, remote: str | None) -> None:
    """An authenticated refusal: into the history, at most ``KEPT_PER_JOB`` per job."""
    status = status_for(exc)
    app.deps.metrics.callback_refusals.labels(str(status)).inc()
    detail = {"status": status, **exc.as_dict(), "remote": remote}
    _log.warning("callback_refused", job_id=job_id, **detail)
    kept = sum(e.kind == "callback_refused" for e in app.store.history(job_id))
    if kept < KEPT_PER_JOB:
        app.store.note(job_id, "callback_refused", detail)
    elif kept == KEPT_PER_JOB:
        capped = {"kept": KEPT_PER_JOB, "see": "twoway_callback_refusals_total, gateway log"}
        app.store.note(job_id, "callback_refused", {**detail, "last_kept": True, **capped})
