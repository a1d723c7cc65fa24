"""Commands that run parts of twoway here: demo, up, worker, sandbox."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ops.cli.commands.remote import port, positive, seconds

__all__ = ["register", "wait_for_signal"]

KEYS = ["rsa2048", "rsa3072", "rsa4096", "ec256", "ec384"]  # messages.KeyType; no import: --help


def register(sub: Any) -> None:
    demo = sub.add_parser("demo", help="run one job end to end on a throwaway stack")
    demo.add_argument("--out", type=Path, help="write keystore, password, certificates here")
    demo.add_argument("--broker", choices=["stub", "rabbitmq"], default="stub")
    demo.add_argument("--key", choices=KEYS, default="rsa2048")
    demo.add_argument(
        "--keystore-format",
        choices=["jks", "pkcs12"],
        default="jks",
        help="the keystore record: Java Key Store (default) or PKCS12 Key Store",
    )
    demo.add_argument(
        "--ca", choices=["local", "manual"], default="local", help="manual: pause for a callback"
    )
    demo.add_argument(
        "--timeout", type=seconds, help="seconds (default 300; 3600 with --ca manual)"
    )
    demo.add_argument(
        "--json", action="store_true", help="progress to stderr, the result to stdout"
    )
    demo.add_argument(
        "--estate",
        action="store_true",
        help="the sandbox holds a hand-made estate; show its inventory after the job",
    )
    demo.set_defaults(run=_demo)

    up = sub.add_parser("up", help="the whole stack in the foreground, for development")
    up.add_argument("--broker", choices=["stub", "rabbitmq"], default="stub")
    up.add_argument("--workers", type=positive, default=2, help="worker processes (rabbitmq)")
    up.add_argument(
        "--estate",
        action="store_true",
        help="the sandbox holds a hand-made mutual-TLS estate and its partners (docs/estate.md)",
    )
    up.set_defaults(run=_up)

    worker = sub.add_parser("worker", help="a worker process on RabbitMQ")
    worker.add_argument("--stages", default="", help="comma-separated stages (default: all)")
    worker.add_argument("--threads", type=positive, default=4)
    worker.add_argument(
        "--metrics-port", type=port, help="serve Prometheus metrics (with dramatiq's) on this port"
    )
    worker.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address of the metrics port (no token: keep it on loopback)",
    )
    worker.set_defaults(run=_worker)

    sandbox = sub.add_parser("sandbox", help="the sandbox ServiceNow instance alone")
    sandbox.add_argument("--port", type=port, default=0)
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sandbox.add_argument(
        "--roles",
        default="admin",
        help="the integration user's roles, comma-separated (web_service_admin: one that"
        " lacks admin, refused on certificates and profiles)",
    )
    sandbox.add_argument(
        "--live-payments",
        action="store_true",
        help="'Payments API' already live on mutual auth (profile mauthpayments)",
    )
    sandbox.add_argument(
        "--estate",
        action="store_true",
        help="a hand-made mutual-TLS estate: keystores, trust certs, profiles (docs/estate.md)",
    )
    sandbox.set_defaults(run=_sandbox)


def _demo(args: argparse.Namespace) -> int:
    from messages import KeyType
    from ops.cli.estate_view import render_estate
    from ops.dev.demo import run_demo

    timeout = args.timeout or (3600.0 if args.ca == "manual" else 300.0)
    return run_demo(
        key=KeyType(args.key),
        keystore_format=args.keystore_format,
        out=args.out,
        broker=args.broker,
        ca=args.ca,
        timeout=timeout,
        as_json=args.json,
        show_estate=render_estate if args.estate else None,
    )


def _up(args: argparse.Namespace) -> int:
    from ops.cli.client import write_context
    from ops.cli.contexts import forget_context
    from ops.dev.stack import BrokerOptions, Stack, StackOptions
    from workers.logs import configure_logging

    chaos = tuple(c.strip() for c in os.environ.get("TWOWAY_CHAOS", "").split(",") if c.strip())
    # Worker processes run the revoker and notifier; with the in-process broker, the stack.
    lifecycle = None if args.broker == "rabbitmq" else 10.0
    amqp = args.broker == "rabbitmq"
    options = StackOptions(
        broker=BrokerOptions(kind=args.broker, worker_processes=args.workers, amqp=amqp),
        chaos=chaos,
        lifecycle_every_s=lifecycle,
        estate=args.estate,
    )
    configure_logging(stream=sys.stderr)
    with Stack(options) as stack:
        name = f"up-{stack.queue_prefix.removeprefix('twoway-')}"
        path = write_context(stack.gateway.url, stack.token, name=name)
        print(json.dumps({**stack.info(), "context": str(path), "context_name": name}), flush=True)
        print(
            f"twoway up: context {name!r} in {path} is current: the CLI talks to this stack"
            " (twoway jobs, status ...; twoway context list|use to switch)."
            " Everything the stack holds goes when it stops.",
            file=sys.stderr,
            flush=True,
        )
        try:
            wait_for_signal()
        finally:
            forget_context(path, name, stack.token)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from ops.rabbitmq.worker import run_worker

    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    return run_worker(
        stages,
        threads=args.threads,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
    )


def _sandbox(args: argparse.Namespace) -> int:
    from ops.dev.sandbox import serve

    # A fixed admin password (for compose) may come from the environment; else random.
    roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
    serve(
        port=args.port,
        host=args.host,
        admin_password=os.environ.get("TWOWAY_SANDBOX_PASSWORD"),
        integration_roles=roles,
        live_payments=args.live_payments,
        estate=args.estate,
    )
    return 0


def wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
