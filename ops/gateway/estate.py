"""An instance's whole mutual-TLS estate: discover it (read-only), adopt it, migrate it.

``GET /v1/instances/{name}/estate`` needs a ``read`` token and writes nothing to the
instance; adopting (nothing changes on the instance either) and migrating need an
``operator`` token. See docs/estate.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from ops.gateway.auth import OperatorToken, ReadToken, actor_of
from ops.gateway.errors import error_responses
from ops.gateway.state import state_of
from workers.app import App
from workers.errors import InstanceNotFound, RequestInvalid
from workers.estate.inventory import discover_estate
from workers.estate.model import EstateReport
from workers.levers.adopt import Selection, adopt_estate
from workers.levers.migrate import (
    continue_migration,
    migrate,
    migration_progress,
    stop_migration,
)
from workers.levers.reasons import MAX_REASON

__all__ = ["AdoptBody", "MigrateBody", "router"]

router = APIRouter(prefix="/v1/instances", tags=["estate"])
NAME = Path(min_length=1, max_length=64, description="an instance profile of pipeline.toml")
Name100 = Annotated[str, Field(min_length=1, max_length=100)]


class AdoptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca: Annotated[str, Field(min_length=1, max_length=64)]  # the CA profile renewals use
    names: Annotated[list[Name100], Field(max_length=1000)] = []
    all: bool = False
    kind: Literal["rest", "soap"] | None = None
    protocols: Annotated[list[Name100], Field(max_length=1000)] = []
    finding: Annotated[str, Field(max_length=64)] | None = None


class MigrateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca: Annotated[str, Field(min_length=1, max_length=64)]  # the CA profile to move onto
    jobs: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=10000)] = []
    finding: Annotated[str, Field(max_length=64)] | None = None
    all: bool = False
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)] = "migrated on request"
    wave_size: Annotated[int, Field(ge=1, le=10000)] | None = None  # None: one wave


class StopBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON)] = "stopped on request"


def _app(request: Request, name: str) -> App:
    app = state_of(request).app
    if name not in app.config.instances:
        raise InstanceNotFound(
            f"no instance profile {name!r}",
            hint=f"pipeline.toml defines {sorted(app.config.instances)}",
        )
    return app


def _ca(app: App, ca: str) -> str:
    if ca not in app.config.ca:
        raise RequestInvalid(
            f"ca: no CA profile {ca!r}", hint=f"pipeline.toml defines {sorted(app.config.ca)}"
        )
    return ca


@router.get(
    "/{name}/estate",
    summary="Everything mutual TLS on the instance, and the findings about it (read-only)",
    response_model=EstateReport,
    responses=error_responses(404, 503),
)
def estate(
    request: Request, _token: ReadToken, name: str = NAME, probe: bool = True
) -> EstateReport:
    app = _app(request, name)
    return discover_estate(name, app.config, app.deps.instances, probe=probe)


@router.post(
    "/{name}/adopt",
    summary="Bring discovered integrations under management (nothing changes on the instance)",
    responses=error_responses(400, 404),
)
def adopt(
    request: Request, token: OperatorToken, body: AdoptBody, name: str = NAME
) -> dict[str, Any]:
    app = _app(request, name)
    if not (body.names or body.all):
        raise RequestInvalid(
            "name the messages to adopt, or set all",
            hint="all: true adopts every one the filters keep",
        )
    selection = Selection(
        names=tuple(body.names),
        everything=body.all,
        kind=body.kind,
        protocols=tuple(body.protocols),
        finding=body.finding,
    )
    result = adopt_estate(app, name, selection, ca=_ca(app, body.ca), actor=actor_of(token))
    return result.as_dict()


@router.post(
    "/{name}/migrations",
    status_code=202,
    summary="Renew managed integrations onto another CA profile, with the partner's pause",
    responses=error_responses(400, 404),
)
def start_migration(
    request: Request, token: OperatorToken, body: MigrateBody, name: str = NAME
) -> dict[str, Any]:
    app = _app(request, name)
    if not (body.jobs or body.finding or body.all):
        raise RequestInvalid(
            "name the jobs to migrate, a finding, or set all", hint="see docs/estate.md"
        )
    batch = migrate(
        app,
        name,
        ca=_ca(app, body.ca),
        actor=actor_of(token),
        reason=body.reason,
        jobs=tuple(body.jobs),
        finding=body.finding,
        everything=body.all,
        wave_size=body.wave_size,
    )
    return batch.as_dict()


@router.get(
    "/{name}/migrations/{batch}",
    summary="Where each renewal of a migration stands, and the counts by state",
    responses=error_responses(404),
)
def migration(
    request: Request, _token: ReadToken, name: str = NAME, batch: str = Path(max_length=32)
) -> dict[str, Any]:
    return migration_progress(_app(request, name), name, batch)


@router.post(
    "/{name}/migrations/{batch}/continue",
    summary="Start the next wave of a migration that a failure halted",
    responses=error_responses(404, 409),
)
def continue_batch(
    request: Request, token: OperatorToken, name: str = NAME, batch: str = Path(max_length=32)
) -> dict[str, Any]:
    return continue_migration(_app(request, name), name, batch, actor=actor_of(token))


@router.post(
    "/{name}/migrations/{batch}/stop",
    summary="Withdraw what a migration still has queued (started renewals go on)",
    responses=error_responses(400, 404),
)
def stop_batch(
    request: Request,
    token: OperatorToken,
    body: StopBody | None = None,
    name: str = NAME,
    batch: str = Path(max_length=32),
) -> dict[str, Any]:
    reason = (body or StopBody()).reason
    return stop_migration(_app(request, name), name, batch, actor=actor_of(token), reason=reason)
