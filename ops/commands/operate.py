"""``twoway replay`` and ``twoway cancel``: an operator's levers, with a recorded reason.

They act on the store and the broker directly, like ``submit`` and ``status``: an
operator's shell runs where the deployment's environment is. Clients elsewhere use the
gateway's ``/v1/jobs/{id}/replay`` and ``/cancel`` with an operator token.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from messages import Stage

from ..output import emit

__all__ = ["actor", "quiet_logs", "register"]


def actor(given: str | None) -> str:
    return given or f"cli:{getpass.getuser()}"


def quiet_logs() -> None:
    """Warnings and errors to stderr; stdout is the command's answer (JSON with --json)."""
    from workers.logs import configure_logging

    configure_logging(stream=sys.stderr, level="WARNING")


def register(sub: Any) -> None:
    replay = sub.add_parser(
        "replay",
        help="run a stage of a failed job again, and continue from there",
        description="Replays STAGE of a failed job (its failed stage or an earlier one; of a"
        " succeeded job only verify). The reason and who asked go into the job's history."
        " A stage before import-chain on a job that holds a certificate needs --force: it"
        " makes a new key, CSR and certificate.",
    )
    replay.add_argument("job_id")
    replay.add_argument("--stage", required=True, choices=[s.value for s in Stage])
    replay.add_argument("--reason", required=True, help="why (recorded in the history)")
    replay.add_argument("--force", action="store_true", help="allow a new key/CSR/certificate")
    replay.add_argument("--actor", help="who asks (default: cli:<login name>)")
    replay.add_argument("--wait", action="store_true", help="show progress until the job ends")
    replay.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(run=_replay)

    cancel = sub.add_parser("cancel", help="cancel an unfinished job, with a reason")
    cancel.add_argument("job_id")
    cancel.add_argument("--reason", required=True, help="why (recorded in the history)")
    cancel.add_argument("--actor", help="who asks (default: cli:<login name>)")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(run=_cancel)


def _replay(args: argparse.Namespace) -> int:
    from workers.levers.replay import replay

    from ..control import open_app
    from .jobs import wait_and_report

    quiet_logs()
    app = open_app()
    try:
        job = replay(
            app.runtime,
            args.job_id,
            Stage(args.stage),
            reason=args.reason,
            actor=actor(args.actor),
            force=args.force,
        )
        if not args.json:
            print(f"job {job.id}: replaying {args.stage}")
        if args.wait:
            kinds = [event.kind for event in app.store.history(job.id)]
            since = len(kinds) - 1 - kinds[::-1].index("replay_requested")
            return wait_and_report(
                app.store, job.id, timeout=args.timeout, as_json=args.json, since=since
            )
    finally:
        app.close()
    if args.json:
        emit(job.summary(), as_json=True)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from workers.levers.replay import cancel

    from ..control import open_store

    quiet_logs()
    job = cancel(open_store(), args.job_id, reason=args.reason, actor=actor(args.actor))
    if args.json:
        emit(job.summary(), as_json=True)
    else:
        print(f"job {job.id}: {job.state.value}")
    return 0
