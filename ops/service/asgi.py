"""The gateway as an ASGI application built from the environment, for ``twoway gateway
--processes N``: uvicorn imports this factory in each serving process, and each opens
its own App (store engines, broker connection) from the same environment."""

from __future__ import annotations

import atexit

from fastapi import FastAPI

from ops.service.assembly import create_service
from ops.service.environment import open_app
from workers.logs import configure_logging

__all__ = ["gateway_from_environment"]


def gateway_from_environment() -> FastAPI:
    configure_logging()
    app = open_app()
    atexit.register(app.close)
    return create_service(app)
