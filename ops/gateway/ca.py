"""The CA's side of a paused job: its CSR, and the callback that resumes it.

``GET /v1/jobs/{id}/csr`` needs a ``read`` token. ``POST /v1/jobs/{id}/ca-callback`` is
authenticated by the CA profile's shared secret instead (:mod:`ops.gateway.signed`: what a
refusal costs, before and after the signature holds). A refusal leaves the job waiting;
an accepted certificate resumes the job at ``import-chain``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ops.gateway.auth import require
from ops.gateway.errors import ERROR_BODY, error_responses
from ops.gateway.jobs_read import JOB_ID
from ops.gateway.signed import KEEP, SignedCall, refuse_authenticated, signed_call
from ops.gateway.state import state_of
from workers.config import format_validation_error
from workers.errors import (
    ReplayRefused,
    RequestInvalid,
    StateConflict,
    TwowayError,
)
from workers.levers.resume import resume_with_certificate
from workers.pki import MAX_CERTIFICATE_PEM, MAX_CHAIN_PEM
from workers.store.artifacts import Artifact

__all__ = ["CaCallback", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["ca"])


class CaCallback(BaseModel):
    """What the CA sends when it has signed the job's CSR."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    certificate: str = Field(
        min_length=1, max_length=MAX_CERTIFICATE_PEM, description="the leaf, PEM"
    )
    chain: str = Field(
        default="",
        max_length=MAX_CHAIN_PEM,
        description="intermediates and root, PEM, concatenated",
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
    responses={200: {"content": {"application/x-pem-file": {}}}, 404: ERROR_BODY, 409: ERROR_BODY},
)
def get_csr(request: Request, job_id: str = JOB_ID) -> Response:
    store = state_of(request).app.store
    job = store.get_job(job_id)
    csr = store.artifacts.get(job.id, Artifact.CSR)
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
    responses=error_responses(400, 401, 403, 404, 409, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CaCallback.model_json_schema()}},
        }
    },
)
async def ca_callback(call: Annotated[SignedCall, Depends(signed_call)]) -> dict[str, Any]:
    return await run_in_threadpool(_accept, call)


def _accept(call: SignedCall) -> dict[str, Any]:
    """Check the signature, then the certificate; record the signature as used with the
    resume (one transaction), or on its own when the callback is refused for any reason."""
    app, body, remote = call.app, call.body, call.remote
    job = app.store.get_job(call.job_id)
    profile = job.request.ca.profile
    signatures = app.store.signatures
    used = call.authenticate(job.id, lambda: app.deps.cas.callback_secret(profile))
    try:
        signatures.refuse_if_used(used)
        callback = _parse(body)
    except RequestInvalid as exc:
        signatures.claim(used, job.id, keep=KEEP)
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
            claim=lambda conn: signatures.claim_in(conn, used, job.id, keep=KEEP),
        )
    except ReplayRefused as exc:  # a twin callback claimed the signature first
        refuse_authenticated(app, job.id, exc, remote)
        raise
    except StateConflict as exc:  # the job moved on
        signatures.claim(used, job.id, keep=KEEP)
        refuse_authenticated(app, job.id, exc, remote)
        raise
    except TwowayError:  # a certificate that failed a check: resume wrote it into the history
        signatures.claim(used, job.id, keep=KEEP)
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
