"""What an operator does to a job from its page: each through the function the JSON API's
route calls, with the same roles (operator) and a CSRF token on every form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from messages import Stage
from ops.console.common import Refused, app_of, check_csrf, refusal, require_session, session_of
from ops.console.job import JOB_ID, job_page
from ops.console.session import Session
from ops.gateway.auth import actor_of
from ops.gateway.ca import CaCallback
from ops.gateway.errors import status_for
from workers.config import format_validation_error
from workers.errors import RequestInvalid, TwowayError
from workers.levers.partner import resume_third_party
from workers.levers.reasons import MAX_REASON, check_reason
from workers.levers.renewal import renew
from workers.levers.replay import cancel, replay
from workers.levers.resume import resume_with_certificate
from workers.levers.rollback import rollback
from workers.pki import MAX_CERTIFICATE_PEM, MAX_CHAIN_PEM

__all__ = ["router"]

router = APIRouter(prefix="/ui/jobs/{job_id}", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=100)]
Reason = Annotated[str, Form(max_length=MAX_REASON + 100)]


def _act(request: Request, job_id: str, csrf: str, do: Callable[[Session], str]) -> Response:
    """Operator role and CSRF first, then the action; a refusal is drawn on the job's page."""
    session = session_of(request)
    try:
        session = require_session(request, "operator")
        check_csrf(session, csrf)
    except Refused as exc:
        return refusal(request, exc, session)
    try:
        where = do(session)
    except TwowayError as exc:
        try:
            return job_page(request, session, job_id, refused=exc, status=status_for(exc))
        except TwowayError as missing:
            return refusal(request, missing, session)
    return RedirectResponse(where, status_code=303)


@router.post("/replay")
def replay_job(
    request: Request,
    csrf: Csrf = "",
    stage: Annotated[str, Form(max_length=40)] = "",
    reason: Reason = "",
    force: Annotated[bool, Form()] = False,
    job_id: str = JOB_ID,
) -> Response:
    def do(session: Session) -> str:
        if stage not in {s.value for s in Stage}:
            raise RequestInvalid(f"stage: {stage[:40]!r} is not a stage", hint="pick one")
        actor = actor_of(session.token)
        runtime = app_of(request).runtime
        replay(runtime, job_id, Stage(stage), reason=reason, actor=actor, force=force)
        return f"/ui/jobs/{job_id}?notice=replayed"

    return _act(request, job_id, csrf, do)


@router.post("/cancel")
def cancel_job(
    request: Request, csrf: Csrf = "", reason: Reason = "", job_id: str = JOB_ID
) -> Response:
    def do(session: Session) -> str:
        why = check_reason(reason, what="a cancel")
        cancel(app_of(request).store, job_id, reason=why, actor=actor_of(session.token))
        return f"/ui/jobs/{job_id}?notice=cancelled"

    return _act(request, job_id, csrf, do)


@router.post("/partner-installed")
def partner_installed(
    request: Request, csrf: Csrf = "", reason: Reason = "", job_id: str = JOB_ID
) -> Response:
    def do(session: Session) -> str:
        why = check_reason(reason, what="saying the third party installed it")
        actor = actor_of(session.token)
        resume_third_party(app_of(request), job_id, source="console", actor=actor, reason=why)
        return f"/ui/jobs/{job_id}?notice=partner_installed"

    return _act(request, job_id, csrf, do)


@router.post("/rollback")
def rollback_job(
    request: Request, csrf: Csrf = "", reason: Reason = "", job_id: str = JOB_ID
) -> Response:
    def do(session: Session) -> str:
        rollback(app_of(request), job_id, actor=actor_of(session.token), reason=reason)
        return f"/ui/jobs/{job_id}?notice=rolled_back"

    return _act(request, job_id, csrf, do)


@router.post("/renew")
def renew_job(
    request: Request, csrf: Csrf = "", reason: Reason = "", job_id: str = JOB_ID
) -> Response:
    def do(session: Session) -> str:
        why = check_reason(reason or "renewed on request", what="a renewal")
        job, _ = renew(app_of(request), job_id, actor=actor_of(session.token), reason=why)
        return f"/ui/jobs/{job.id}?notice=renewal"

    return _act(request, job_id, csrf, do)


@router.post("/resume")
async def resume_job(
    request: Request,
    csrf: Csrf = "",
    certificate: Annotated[str, Form(max_length=MAX_CERTIFICATE_PEM)] = "",
    chain: Annotated[str, Form(max_length=MAX_CHAIN_PEM)] = "",
    certificate_file: UploadFile | None = None,
    chain_file: UploadFile | None = None,
    job_id: str = JOB_ID,
) -> Response:
    """The CA's signed certificate and chain, pasted or uploaded: checked as a callback's."""
    leaf = await _text(certificate_file) or certificate
    rest = await _text(chain_file) or chain

    def do(session: Session) -> str:
        try:
            given = CaCallback.model_validate({"certificate": leaf, "chain": rest})
        except ValidationError as exc:
            raise RequestInvalid(
                f"{format_validation_error(exc)}",
                hint="paste or upload the signed certificate (PEM), and its chain",
            ) from exc
        resume_with_certificate(
            app_of(request),
            job_id,
            given.certificate.encode(),
            given.chain.encode(),
            source="console",
            actor=actor_of(session.token),
        )
        return f"/ui/jobs/{job_id}?notice=resumed"

    return await run_in_threadpool(_act, request, job_id, csrf, do)


async def _text(upload: UploadFile | None) -> str:
    if upload is None or not upload.filename:
        return ""
    data = await upload.read(MAX_CHAIN_PEM + 1)
    return data.decode("utf-8", errors="replace")
