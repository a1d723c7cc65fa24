"""``twoway retention``: apply ``[retention]`` of pipeline.toml (a process of the
deployment, like the scheduler; ``--once`` for one round, from cron or by hand)."""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.commands.remote import seconds
from ops.cli.output import emit

__all__ = ["register"]


def register(sub: Any) -> None:
    retention = sub.add_parser(
        "retention",
        help="prune what [retention] lets go (replaced jobs' artifacts and histories, ended"
        " jobs' artifacts), in batches",
    )
    retention.add_argument("--every", type=seconds, help="seconds between rounds")
    retention.add_argument("--once", action="store_true", help="one round, then exit")
    retention.add_argument("--json", action="store_true")
    retention.set_defaults(run=_retention)


def _retention(args: argparse.Namespace) -> int:
    from ops.cli.commands.local import wait_for_signal
    from ops.service.environment import open_app
    from workers.levers.retention import Retention
    from workers.logs import configure_logging

    configure_logging()
    app = open_app()
    lever = Retention(app)
    try:
        if args.once:
            emit(lever.run_once().as_dict(), as_json=args.json)
            return 0
        lever.start(args.every)
        wait_for_signal()
        lever.stop()
    finally:
        app.close()
    return 0
