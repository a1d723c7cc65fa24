"""``twoway intake``, ``relay`` and ``broker-definitions``: the AMQP side of twoway.

Both are processes of their own rather than options of ``twoway worker``: they talk to
foreign systems (their load, credentials and failure modes are the workflows', not the
stages'), they need no ServiceNow or CA access beyond admission, and a deployment runs
one or two of each, while it scales workers by the dozen.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.cli.commands.remote import positive, seconds

__all__ = ["register"]


def register(sub: Any) -> None:
    intake = sub.add_parser(
        "intake", help="accept job requests from the <prefix>.jobs queue (AMQP workflows)"
    )
    intake.add_argument("--prefetch", type=positive, default=4, help="requests in flight")
    intake.set_defaults(run=_intake)

    relay = sub.add_parser(
        "relay", help="publish every job event on the <prefix>.events topic exchange"
    )
    relay.add_argument("--batch", type=positive, default=200, help="events per batch")
    relay.add_argument("--poll", type=seconds, default=0.2, help="seconds between looks")
    relay.set_defaults(run=_relay)

    broker = sub.add_parser(
        "broker-definitions",
        help="write RabbitMQ's definitions (vhost, user, exchange, queue, policies) to import",
    )
    broker.add_argument("--out", type=Path, required=True, help="the file to write")
    broker.add_argument("--user", default="twoway", help="the login twoway's processes use")
    broker.set_defaults(run=_broker_definitions)


def _intake(args: argparse.Namespace) -> int:
    from ops.rabbitmq.connection import topology_of
    from ops.rabbitmq.intake import Intake
    from ops.service.environment import open_app
    from workers.logs import configure_logging

    configure_logging()
    app = open_app()
    intake = Intake(app, app.settings.broker_url, topology_of(app.config), prefetch=args.prefetch)
    try:
        _until_signal(intake.run)
    finally:
        app.close()
    return 0


def _relay(args: argparse.Namespace) -> int:
    from ops.rabbitmq.connection import topology_of
    from ops.rabbitmq.relay import EventRelay
    from ops.service.environment import open_store
    from workers.config import Settings, load_config
    from workers.logs import configure_logging

    configure_logging()
    store = open_store()
    relay = EventRelay(
        store,
        Settings.from_environment().broker_url,
        topology_of(load_config()),
        batch=args.batch,
        poll_s=args.poll,
    )
    try:
        _until_signal(relay.run)
    finally:
        store.close()
    return 0


def _broker_definitions(args: argparse.Namespace) -> int:
    from ops.rabbitmq.definitions import write_definitions
    from workers.errors import ConfigError

    password = os.environ.get("RABBITMQ_PASSWORD", "")
    if not password:
        raise ConfigError(
            "RABBITMQ_PASSWORD is not set",
            hint="the password of the RabbitMQ user twoway's processes log in as",
        )
    write_definitions(args.out, password, user=args.user)
    print(f"wrote {args.out} (user {args.user}; the password is stored as a salted hash)")
    return 0


def _until_signal(run: Callable[[threading.Event], None]) -> None:
    """Run ``run(stop)`` in this thread until SIGTERM or SIGINT sets ``stop``."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(stop)
