"""``POST /v1/plan``: what a job request would do on its instance, read-only.

Needs a ``read`` token: nothing is written to the instance, the store or the CA. Answers
200 with the plan whether the job is ready or refused (``ready`` says which, and
``refusals`` lists every reason); a body that is not a JSON object is a 422 like any.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from ops.gateway.auth import ReadToken
from ops.gateway.state import state_of
from workers.readiness.plan import Plan, plan_job

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["plan"])


@router.post(
    "/plan",
    summary="What a job request would create, change and reuse, and why it would be refused",
    response_model=Plan,
)
def plan(
    request: Request,
    _token: ReadToken,
    job: Annotated[dict[str, Any], Body(description="a job request, as for POST /v1/jobs")],
) -> Plan:
    app = state_of(request).app
    return plan_job(job, app.config, app.deps.instances, state_dir=app.settings.state_dir)
