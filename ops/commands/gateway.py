"""``twoway gateway``: the HTTP API in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    gateway = sub.add_parser("gateway", help="serve the HTTP API (/v1, /healthz, /openapi.json)")
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=8000)
    gateway.set_defaults(run=_gateway)


def _gateway(args: argparse.Namespace) -> int:
    from workers.logs import configure_logging

    from ..control import open_app
    from ..gateway.server import GatewayServer

    configure_logging()
    app = open_app()
    try:
        GatewayServer(app, host=args.host, port=args.port).serve()
    finally:
        app.close()
    return 0
