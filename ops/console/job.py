"""A job's page (timeline, history, error, what the instance holds, actions) and its files."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from messages import JobState
from ops.console.common import Refused, app_of, refusal, render, require_session, signin_redirect
from ops.console.session import Session
from ops.console.views import instance_holds, is_waiting, job_view, replay_choices, timeline
from workers.errors import StateConflict, TwowayError
from workers.levers.undo import left_on_instance

__all__ = ["JOB_ID", "job_page", "router"]

router = APIRouter(prefix="/ui/jobs", include_in_schema=False)
JOB_ID = Path(pattern=r"^[0-9a-f]{32}$")
_NOTICES = {
    "replayed": "Replay requested: the job runs again from the stage you chose.",
    "cancelled": "The job is cancelled.",
    "resumed": "The certificate was accepted: the job goes on at import-chain.",
    "rolled_back": "Rolled back: what the job changed on its instance is undone.",
    "renewal": "This is the renewal you asked for.",
    "partner_installed": "Noted: the job proves the keystore again, then switches the message.",
}
_FILES = {  # name: (artifact, media type, file name)
    "csr": ("csr", "application/x-pem-file", "csr-{id}.pem"),
    "pem": ("client_cert_pem", "application/x-pem-file", "client-cert-{id}.pem"),
    "der": ("client_cert_der", "application/pkix-cert", "client-cert-{id}.cer"),
    "chain": ("ca_chain_pem", "application/x-pem-file", "ca-chain-{id}.pem"),
}


def job_page(
    request: Request,
    session: Session,
    job_id: str,
    *,
    notice: str | None = None,
    refused: TwowayError | Refused | None = None,
    status: int = 200,
) -> Response:
    app = app_of(request)
    job = app.store.get_job(job_id)
    view = job_view(app, job)
    stored = app.store.artifacts.stored_for(job.id)  # what exists, in one query
    artifacts = {name: art in stored for name, (art, *_) in _FILES.items()}
    stays = job.state is JobState.CANCELLED or not job.terminal
    context = {
        "job": view,
        "left_on_instance": left_on_instance(app.store.history(job.id)) if stays else [],
        "timeline": timeline(app, view),
        "holds": instance_holds(view, stored),
        "replay_stages": replay_choices(app, job),
        "files": artifacts,
        "notice": _NOTICES.get(notice or ""),
        "refused": _words(refused),
        "can_cancel": not job.terminal,
        "can_rollback": job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)
        or is_waiting(job.state.value),
        "can_renew": job.state is JobState.SUCCEEDED,
        "can_resume": job.state is JobState.WAITING_FOR_CA,
        "can_say_installed": job.state is JobState.WAITING_FOR_THIRD_PARTY,
    }
    return render(request, "job.html", context, session=session, status=status)


def _words(refused: TwowayError | Refused | None) -> dict[str, object] | None:
    if refused is None:
        return None
    if isinstance(refused, Refused):
        return {"message": refused.message, "hint": refused.hint, "check": None}
    body = refused.as_dict()
    return {"message": body.get("message"), "hint": body.get("hint"), "check": body.get("check")}


@router.get("/{job_id}")
def show_job(
    request: Request,
    job_id: str = JOB_ID,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    try:
        session = require_session(request)
    except Refused:
        return signin_redirect(request)
    try:
        return job_page(request, session, job_id, notice=notice)
    except TwowayError as exc:
        return refusal(request, exc, session)


@router.get("/{job_id}/files/{name}")
def download(
    request: Request, name: Literal["csr", "pem", "der", "chain"], job_id: str = JOB_ID
) -> Response:
    """The CSR or the client certificate, as the API's routes hand them out."""
    session = None
    try:
        session = require_session(request)
        store = app_of(request).store
        job = store.get_job(job_id)
        artifact, media_type, filename = _FILES[name]
        data = store.artifacts.get(job.id, artifact)
        if data is None:
            raise StateConflict(f"job {job.id} has no {name.upper()} file yet ({job.state.value})")
    except (Refused, TwowayError) as exc:
        return refusal(request, exc, session)
    disposition = f'attachment; filename="{filename.format(id=job.id)}"'
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})
