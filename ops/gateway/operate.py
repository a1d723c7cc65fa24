"""An operator's levers beyond replay and cancel: resume a CA wait with the certificate
the CA signed, roll a job back, and act on dead letters.

Writes need the ``operator`` role and record the token's name as the actor; reads need
``read``. Each route calls the same worker-level function the local commands call.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from messages import Stage
from ops.gateway.auth import OperatorToken, ReadToken, actor_of
from ops.gateway.errors import error_responses
from ops.gateway.jobs_read import JOB_ID
from ops.gateway.state import state_of
from workers.errors import RequestInvalid
from workers.levers.reasons import MAX_REASON
from workers.pki import MAX_CERTIFICATE_PEM, MAX_CHAIN_PEM

__all__ = ["DeadLetterSelection", "ResumeBody", "RollbackBody", "router"]

router = APIRouter(tags=["operations"])
Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON, description="why (recorded)")]


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate: Annotated[str, Field(min_length=1, max_length=MAX_CERTIFICATE_PEM)]
    chain: Annotated[str, Field(max_length=MAX_CHAIN_PEM)] = ""


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = "rolled back by an operator"


class DeadLetterSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: list[Stage] = Field(default_factory=list, description="none: every stage")
    jobs: list[str] = Field(default_factory=list, max_length=1000)
    message_ids: list[str] = Field(default_factory=list, max_length=1000)
    all: bool = Field(default=False, description="every dead letter of the stages chosen")
    reason: Reason
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000


@router.post(
    "/v1/jobs/{job_id}/resume",
    summary="Resume a job waiting for its CA with the certificate the CA signed"
    " (the checks of the CA callback)",
    responses=error_responses(404, 409, 422),
)
def resume_job(
    request: Request, body: ResumeBody, token: OperatorToken, job_id: str = JOB_ID
) -> dict[str, Any]:
    from workers.levers.resume import resume_with_certificate

    app = state_of(request).app
    job = resume_with_certificate(
        app,
        job_id,
        body.certificate.encode(),
        body.chain.encode(),
        source="api",
        actor=actor_of(token),
    )
    return job.summary()


@router.post(
    "/v1/jobs/{job_id}/rollback",
    summary="Undo what a job changed on its instance; the job ends cancelled (idempotent)",
    responses=error_responses(404, 409, 422),
)
def rollback_job(
    request: Request, token: OperatorToken, body: RollbackBody | None = None, job_id: str = JOB_ID
) -> dict[str, Any]:
    from workers.levers.rollback import rollback

    reason = (body or RollbackBody()).reason
    report = rollback(state_of(request).app, job_id, actor=actor_of(token), reason=reason)
    return report.model_dump(mode="json")


def _dead_letters(request: Request) -> Any:
    from ops.rabbitmq.dead_letters import dead_letters_of

    return dead_letters_of(state_of(request).app)


@router.get("/v1/dead-letters", summary="Messages that exhausted their retries")
async def list_dead_letters(
    request: Request,
    _token: ReadToken,
    stage: Annotated[list[Stage] | None, Query(description="repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    from datetime import UTC, datetime

    letters = await run_in_threadpool(lambda: _dead_letters(request).peek(stage or [], limit=limit))
    now = datetime.now(UTC)
    return {"count": len(letters), "dead_letters": [d.summary(now) for d in letters]}


def _act(request: Request, body: DeadLetterSelection, token: Any, verb: str) -> dict[str, Any]:
    if not (body.jobs or body.message_ids or body.all):
        raise RequestInvalid(
            "say which dead letters: jobs, message_ids or all",
            hint="GET /v1/dead-letters lists them",
        )
    jobs, ids = set(body.jobs), set(body.message_ids)

    def wanted(letter: Any) -> bool:
        return body.all or letter.job_id in jobs or letter.message_id in ids

    letters = _dead_letters(request)
    act = letters.replay if verb == "replay" else letters.purge
    outcomes = act(
        body.stages, wanted=wanted, actor=actor_of(token), reason=body.reason, limit=body.limit
    )
    return {"matched": len(outcomes), "outcomes": [vars(o) for o in outcomes]}


@router.post(
    "/v1/dead-letters/replay",
    summary="Send dead letters back to their stage (retries reset), reviving their jobs",
    responses=error_responses(400, 409),
)
def replay_dead_letters(
    request: Request, body: DeadLetterSelection, token: OperatorToken
) -> dict[str, Any]:
    return _act(request, body, token, "replay")


@router.post(
    "/v1/dead-letters/purge",
    summary="Drop dead letters for good, noting it in each job's history",
    responses=error_responses(400, 409),
)
def purge_dead_letters(
    request: Request, body: DeadLetterSelection, token: OperatorToken
) -> dict[str, Any]:
    return _act(request, body, token, "purge")
