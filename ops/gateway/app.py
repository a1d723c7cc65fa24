"""Assembling the gateway from its routers."""

from __future__ import annotations

import structlog
from fastapi import FastAPI

from ops.gateway import (
    ca,
    certificates,
    crl,
    estate,
    health,
    jobs_list,
    jobs_read,
    jobs_write,
    metrics,
    operate,
    outboxes,
    partner,
    plan,
)
from ops.gateway.errors import install_error_handlers
from ops.gateway.limits import BodyLimit
from ops.gateway.state import GatewayState
from workers.app import App

__all__ = ["ROUTERS", "create_gateway", "warn_untrusting_profiles"]

_log = structlog.get_logger("twoway.gateway")

ROUTERS = [
    health.router,
    jobs_list.router,
    jobs_read.router,
    jobs_write.router,
    ca.router,
    crl.router,
    metrics.router,
    certificates.router,
    partner.router,
    plan.router,
    operate.router,
    estate.router,
    outboxes.router,
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
    warn_untrusting_profiles(app)
    return api


def warn_untrusting_profiles(app: App) -> list[str]:
    """Log a warning for each CA profile that takes callbacks without trusted_roots_file:
    it accepts a chain to whatever self-signed root the caller brings. Return their names."""
    names = [
        name
        for name, profile in app.config.ca.items()
        if getattr(profile, "callback_secret_env", None) and profile.trusted_roots_file is None
    ]
    for name in names:
        _log.warning(
            "ca_profile_trusts_any_root",
            profile=name,
            hint=f"set trusted_roots_file in [ca.{name}] of pipeline.toml to the CA's root(s)",
        )
    return names
