"""The third party's hand-off (runbook step C): what to install, and "it is installed".

A job in ``waiting_for_third_party`` has not touched its message: the third party must
first install our client certificate (``/client-certificate``) and the CA chain it
chains to (``/ca-chain``). Once they have, the request workflow or an operator says so
here; the job then proves the keystore again and switches the message. The poller's
re-probe gets there too, without anyone saying it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from workers.errors import StateConflict
from workers.levers.partner import resume_third_party
from workers.levers.replay import MAX_REASON

from .auth import OperatorToken, actor_of, require
from .jobs_read import JOB_ID
from .state import state_of

__all__ = ["InstalledBody", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["third party"])
_ERROR = {"description": "what is wrong and what to do: {error, message, hint}"}


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
    responses={200: {"content": {"application/x-pem-file": {}}}, 404: _ERROR, 409: _ERROR},
)
def ca_chain(request: Request, job_id: str = JOB_ID) -> Response:
    store = state_of(request).app.store
    job = store.get_job(job_id)
    data = store.artifacts.get(job.id, "ca_chain_pem")
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
    responses={404: _ERROR, 409: _ERROR},
)
def partner_installed(
    request: Request, token: OperatorToken, body: InstalledBody | None = None, job_id: str = JOB_ID
) -> dict[str, Any]:
    reason = (body or InstalledBody()).reason
    app = state_of(request).app
    job = resume_third_party(app, job_id, source="api", actor=actor_of(token), reason=reason)
    return job.summary()
