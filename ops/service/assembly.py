"""The service as one ASGI application: the gateway's routers and the console's pages.

The console calls the functions the gateway's routes call, so it sits above the gateway;
this module is the one place that puts the two together.
"""

from __future__ import annotations

from fastapi import FastAPI

from ops.console import install_console
from ops.gateway.app import create_gateway
from ops.gateway.state import GatewayState
from workers.app import App

__all__ = ["create_service"]


def create_service(app: App, *, state: GatewayState | None = None) -> FastAPI:
    """The JSON API under ``/v1`` and the console under ``/ui``, on one application."""
    api = create_gateway(app, state=state)
    install_console(api)
    return api
