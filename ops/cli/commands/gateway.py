"""``twoway gateway``: the HTTP API in the foreground."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ops.cli.commands.remote import port

__all__ = ["register"]


def register(sub: Any) -> None:
    gateway = sub.add_parser(
        "gateway", help="serve the HTTP API (/v1, /healthz, /openapi.json) and the console (/ui)"
    )
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=port, default=8000)
    gateway.add_argument(
        "--processes",
        type=processes,
        default=1,
        help="serving processes sharing the port (each opens the store and the broker;"
        " a dead one is replaced)",
    )
    gateway.set_defaults(run=_gateway)


def processes(text: str) -> int:
    """A count of processes: a whole number from 1 to MAX_PROCESSES (argparse names the
    option in its error)."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(
            f"a whole number of processes from 1 to {MAX_PROCESSES}, not {text!r}"
        )
    return count


MAX_PROCESSES = 64


def _gateway(args: argparse.Namespace) -> int:
    from ops.service.environment import open_app
    from ops.service.server import GatewayServer
    from workers.logs import configure_logging

    if args.processes > 1:
        return _serve_processes(args)
    configure_logging()
    app = open_app()
    try:
        server = GatewayServer(app, host=args.host, port=args.port)
        print(f"twoway gateway: listening on {server.url}", file=sys.stderr, flush=True)
        server.serve()
    finally:
        app.close()
    return 0


def _serve_processes(args: argparse.Namespace) -> int:
    """uvicorn's supervisor: it binds the port, starts the processes and replaces any
    that dies, until SIGINT/SIGTERM."""
    import uvicorn

    from ops.service.environment import open_app
    from ops.service.serving import uvicorn_options
    from workers.logs import configure_logging

    configure_logging()
    open_app().close()  # a configuration error is told once, here, not by every process
    where = f"http://{args.host}:{args.port}"
    print(f"twoway gateway: listening on {where} ({args.processes} processes)", file=sys.stderr)
    uvicorn.run(
        "ops.service.asgi:gateway_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.processes,
        log_config=None,
        access_log=False,
        lifespan="off",
        **uvicorn_options(),
    )
    return 0
