"""The CA's side of a paused job: its CSR, and the callback that resumes it.

``GET /v1/jobs/{id}/csr`` needs a ``read`` token. ``POST /v1/jobs/{id}/ca-callback`` is
authenticated by the CA profile's shared secret instead (see :mod:`ops.callback`). A
refusal leaves the job waiting; one after a good signature is written into the job's
history (without the signature, at most ``KEPT_PER_JOB``), one before it only counted and
logged, and throttled (:mod:`ops.gateway.throttle`). An accepted certificate resumes the
job at ``import-chain``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, NoReturn

import structlog
from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from workers.config import format_validation_error
from workers.errors import (
    AuthenticationFailed,
    PermissionDenied,
    ReplayRefused,
    RequestInvalid,
    StateConflict,
    TooManyRefusals,
    TwowayError,
)
from workers.levers.resume import resume_with_certificate
from workers.machinery.app import App

from ..callback import SIGNATURE_HEADER, TIMESTAMP_HEADER, WINDOW_S, check_signature
from .auth import require
from .errors import status_for
from .jobs_read import JOB_ID
from .state import state_of
from .throttle import KEPT_PER_JOB, Throttle

__all__ = [
    "CaCallback",
    "refuse_authenticated",
    "refuse_unauthenticated",
    "router",
    "throttled",
]

router = APIRouter(prefix="/v1/jobs", tags=["ca"])
_log = structlog.get_logger("twoway.gateway")
_ERROR = {"description": "what is wrong and what to do: {error, message, hint}"}
_KEEP = timedelta(seconds=2 * WINDOW_S)  # a signature outside the window is refused anyway


class CaCallback(BaseModel):
    """What the CA sends when it has signed the job's CSR."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    certificate: str = Field(min_length=1, max_length=100_000, description="the leaf, PEM")
    chain: str = Field(
        default="", max_length=200_000, description="intermediates and root, PEM, concatenated"
    )


class CallbackAccepted(BaseModel):
    job_id: str
    state: str
    stage: str | None


@router.get(
    "/{job_id}/csr",
    summary="The job's CSR (PKCS#10, PEM), for the CA",
    dependencies=[require("read")],
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}, 404: _ERROR, 409: _ERROR},
)
def get_csr(request: Request, job_id: str = JOB_ID) -> Response:
    store = state_of(request).app.store
    job = store.get_job(job_id)
    csr = store.artifacts.get(job.id, "csr")
    if csr is None:
        raise StateConflict(
            f"job {job.id} has no CSR yet (it is {job.state.value})",
            hint="the CSR is made by stage 'csr'; ask again when the job waits for its CA",
        )
    return Response(csr, media_type="application/x-pem-file")


@router.post(
    "/{job_id}/ca-callback",
    status_code=202,
    summary="The CA's signed certificate: resumes the job at import-chain",
    response_model=CallbackAccepted,
    responses=dict.fromkeys((400, 401, 403, 404, 409, 413, 422), _ERROR),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CaCallback.model_json_schema()}},
        }
    },
)
async def ca_callback(
    request: Request,
    job_id: str = JOB_ID,
    timestamp: str | None = Header(None, alias=TIMESTAMP_HEADER, description="Unix seconds"),
    signature: str | None = Header(
        None,
        alias=SIGNATURE_HEADER,
        description="sha256=<hex HMAC-SHA256(secret, timestamp + '.' + job id + '.' + raw body)>",
    ),
) -> dict[str, Any]:
    body = await request.body()  # at most the gateway's body limit (ops/gateway/limits.py)
    remote = request.client.host if request.client else None
    state = state_of(request)
    throttle = state.callback_throttle
    args = (state.app, throttle, job_id, timestamp, signature, body, remote)
    return await run_in_threadpool(_accept, *args)


def _accept(
    app: App,
    throttle: Throttle,
    job_id: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    remote: str | None,
) -> dict[str, Any]:
    """Check the signature, then the certificate; record the signature as used with the
    resume (one transaction), or on its own when the callback is refused for any reason."""
    job = app.store.get_job(job_id)
    profile = job.request.ca.profile
    signatures = app.store.signatures
    try:
        secret = app.deps.cas.callback_secret(profile)
        used = check_signature(secret, timestamp, signature, body, job_id=job.id)
    except (AuthenticationFailed, PermissionDenied) as exc:
        refuse_unauthenticated(app, job.id, throttled(throttle, job.id, remote) or exc, remote)
    try:
        signatures.refuse_if_used(used)
        callback = _parse(body)
    except RequestInvalid as exc:
        signatures.claim(used, job.id, keep=_KEEP)
        refuse_authenticated(app, job.id, exc, remote)
        raise
    except ReplayRefused as exc:
        refuse_authenticated(app, job.id, exc, remote)
        raise
    try:
        resumed = resume_with_certificate(
            app,
            job,
            callback.certificate.encode(),
            callback.chain.encode(),
            source="ca-callback",
            actor=f"ca:{profile}",
            claim=lambda conn: signatures.claim_in(conn, used, job.id, keep=_KEEP),
        )
    except ReplayRefused as exc:  # a twin callback claimed the signature first
        refuse_authenticated(app, job.id, exc, remote)
        raise
    except StateConflict as exc:  # the job moved on
        signatures.claim(used, job.id, keep=_KEEP)
        refuse_authenticated(app, job.id, exc, remote)
        raise
    except TwowayError:  # a certificate that failed a check: resume wrote it into the history
        signatures.claim(used, job.id, keep=_KEEP)
        raise
    return {
        "job_id": resumed.id,
        "state": resumed.state.value,
        "stage": resumed.stage.value if resumed.stage else None,
    }


def _parse(body: bytes) -> CaCallback:
    try:
        raw = json.loads(body)
    except RecursionError as exc:
        raise RequestInvalid(
            "body: JSON nested too deeply; a callback is one flat object",
            hint='send {"certificate": PEM, "chain": PEM}',
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestInvalid(
            'body: not JSON; send {"certificate": PEM, "chain": PEM}',
            hint="Content-Type application/json, UTF-8",
        ) from exc
    try:
        return CaCallback.model_validate(raw)
    except ValidationError as exc:
        raise RequestInvalid(
            f"body: {format_validation_error(exc)}",
            hint='send {"certificate": PEM, "chain": PEM}; no other fields',
        ) from exc


def throttled(throttle: Throttle, job_id: str, remote: str | None) -> TwowayError | None:
    """429 for a client or a job past its refusals (counted here); a callback whose
    signature is good is never throttled, so a flood cannot keep a job waiting."""
    client, job = f"client:{remote}", f"job:{job_id}"
    whom = "this client" if throttle.over(client) else "this job" if throttle.over(job) else None
    throttle.hit(client, job)
    return None if whom is None else _too_many(whom, throttle)


def _too_many(whom: str, throttle: Throttle) -> TooManyRefusals:
    return TooManyRefusals(
        f"too many refused callbacks from {whom} in the last {throttle.window_s:.0f} s",
        hint="sign each callback for its job (see the README's callback section), then retry",
    )


def refuse_unauthenticated(app: App, job_id: str, exc: TwowayError, remote: str | None) -> NoReturn:
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
