"""Assembling the gateway from its routers."""

from __future__ import annotations

from fastapi import FastAPI

from workers.machinery.app import App

from . import (
    ca,
    certificates,
    health,
    jobs_list,
    jobs_read,
    jobs_write,
    metrics,
    operate,
    partner,
    plan,
)
from .errors import install_error_handlers
from .limits import BodyLimit
from .state import GatewayState

__all__ = ["ROUTERS", "create_gateway"]

ROUTERS = [
    health.router,
    jobs_list.router,
    jobs_read.router,
    jobs_write.router,
    ca.router,
    metrics.router,
    certificates.router,
    partner.router,
    plan.router,
    operate.router,
]


def create_gateway(app: App, *, state: GatewayState | None = None) -> FastAPI:
    api = FastAPI(
        title="twoway",
        version="1",
        description="Outbound mutual TLS for ServiceNow: jobs, CA callbacks, operations.",
    )
    api.state.twoway = state or GatewayState(app=app)
    install_error_handlers(api)
    api.add_middleware(BodyLimit, state=api.state.twoway)
    for router in ROUTERS:
        api.include_router(router)
    from ..console import install_console  # the console imports from this package

    install_console(api)
    return api
