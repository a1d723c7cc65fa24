"""The third party's hand-off (runbook step C): what to install, and "it is installed".

A job in ``waiting_for_third_party`` has not touched its message: the third party must
first install our client certificate (``/client-certificate``) and the CA chain it
chains to (``/ca-chain``). Once they have, an operator (``/partner-installed``, operator
token) or the request workflow (``/partner-callback``, signed like a CA callback with the
secret named by ``[third_party] callback_secret_env``: HMAC-SHA256 over
``timestamp + "." + job id + "." + raw body``) says so; the job then proves the keystore
again and switches the message. The poller's re-probe gets there too, without anyone
saying it. A signed call is refused as cheaply as a CA callback (nothing in the history
before the signature holds; throttled per client and job; each signature once).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ops.gateway.auth import OperatorToken, actor_of, require
from ops.gateway.errors import ERROR_BODY, error_responses
from ops.gateway.jobs_read import JOB_ID
from ops.gateway.signed import KEEP, SignedCall, refuse_authenticated, signed_call
from ops.gateway.state import state_of
from workers.app import App
from workers.config import format_validation_error
from workers.errors import (
    PermissionDenied,
    ReplayRefused,
    RequestInvalid,
    StateConflict,
)
from workers.levers.partner import resume_third_party
from workers.levers.reasons import MAX_REASON
from workers.store.artifacts import Artifact

__all__ = ["InstalledBody", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["third party"])


class InstalledBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, Field(min_length=1, max_length=MAX_REASON, description="who installed it (recorded)")
    ] = "the third party installed our client certificate"


@router.get(
    "/{job_id}/ca-chain",
    summary="The CA chain of the job's client certificate (intermediates and root, PEM)",
    dependencies=[require("read")],
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}}, 404: ERROR_BODY, 409: ERROR_BODY},
)
def ca_chain(request: Request, job_id: str = JOB_ID) -> Response:
    store = state_of(request).app.store
    job = store.get_job(job_id)
    data = store.artifacts.get(job.id, Artifact.CA_CHAIN_PEM)
    if data is None:
        raise StateConflict(
            f"job {job.id} has no CA chain yet ({job.state.value})",
            hint="it exists once 'import-chain' has run; GET /v1/jobs/{id} shows where the"
            " job stands",
        )
    disposition = f'attachment; filename="ca-chain-{job.id}.pem"'
    return Response(
        data, media_type="application/x-pem-file", headers={"Content-Disposition": disposition}
    )


@router.post(
    "/{job_id}/partner-installed",
    status_code=202,
    summary="The third party installed our client certificate: the job proves it and goes on",
    responses=error_responses(404, 409),
)
def partner_installed(
    request: Request, token: OperatorToken, body: InstalledBody | None = None, job_id: str = JOB_ID
) -> dict[str, Any]:
    reason = (body or InstalledBody()).reason
    app = state_of(request).app
    job = resume_third_party(app, job_id, source="api", actor=actor_of(token), reason=reason)
    return job.summary()


@router.post(
    "/{job_id}/partner-callback",
    status_code=202,
    summary="The request workflow says the third party installed our certificate (signed)",
    responses=error_responses(400, 401, 403, 404, 409, 429),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": InstalledBody.model_json_schema()}},
        }
    },
)
async def partner_callback(
    call: Annotated[SignedCall, Depends(signed_call)],
) -> dict[str, Any]:
    return await run_in_threadpool(_installed, call)


def _installed(call: SignedCall) -> dict[str, Any]:
    app = call.app
    job = app.store.get_job(call.job_id)
    used = call.authenticate(job.id, lambda: _secret(app))
    signatures = app.store.signatures
    try:
        signatures.refuse_if_used(used)
        said = _parse(call.body)
        signatures.claim(used, job.id, keep=KEEP)
        resumed = resume_third_party(
            app, job, source="partner-callback", actor="workflow", reason=said.reason
        )
    except (RequestInvalid, ReplayRefused, StateConflict) as exc:
        refuse_authenticated(app, job.id, exc, call.remote)
        raise
    return resumed.summary()


def _secret(app: App) -> bytes:
    name = app.config.third_party.callback_secret_env
    secret = app.deps.env(name) if name else ""
    if not secret:
        raise PermissionDenied(
            "this gateway takes no signed 'installed' calls",
            hint="set [third_party] callback_secret_env in pipeline.toml and the variable it"
            " names; or have an operator call /partner-installed",
        )
    return secret.encode()


def _parse(body: bytes) -> InstalledBody:
    if not body.strip():
        return InstalledBody()
    try:
        raw = json.loads(body)
    except RecursionError as exc:
        raise RequestInvalid("body: JSON nested too deeply", hint='send {"reason": "..."}') from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestInvalid("body: not JSON", hint='send {"reason": "..."} or nothing') from exc
    try:
        return InstalledBody.model_validate(raw)
    except ValidationError as exc:
        raise RequestInvalid(
            f"body: {format_validation_error(exc)}", hint='send {"reason": "..."}'
        ) from exc
