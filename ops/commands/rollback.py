"""``twoway rollback ID``: undo what a job changed on its ServiceNow instance."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from ..output import emit, table

__all__ = ["register"]


def register(sub: Any) -> None:
    rollback = sub.add_parser(
        "rollback",
        help="undo what a job changed on its instance (messages, profile, keystore, trust)",
        description="Restores the target message's previous values, deletes the protocol"
        " profile the job created (or points a rotated one back), deactivates and deletes"
        " the job's keystore record, and deletes the trust record if the job created it and"
        " no other job relies on it. The job ends cancelled. Running it again does nothing.",
    )
    rollback.add_argument("job_id")
    rollback.add_argument("--reason", default="rolled back by an operator")
    rollback.add_argument("--actor", default=None, help="who asks (default: the login name)")
    rollback.add_argument("--json", action="store_true")
    rollback.set_defaults(run=_rollback)


def _rollback(args: argparse.Namespace) -> int:
    from workers.config import Settings, load_config
    from workers.levers.rollback import rollback
    from workers.machinery.app import build_app

    app = build_app(load_config(), Settings.from_environment(), broker="stub")  # no messages
    try:
        actor = args.actor or f"cli:{getpass.getuser()}"
        report = rollback(app, args.job_id, actor=actor, reason=args.reason)
    finally:
        app.close()
    if args.json:
        emit(report.model_dump(mode="json"), as_json=True)
        return 0
    already = (
        " (it had been rolled back before; nothing changed now)" if report.already_done else ""
    )
    print(f"job {report.job_id}: {report.state.value}{already}")
    rows = [(s.action, s.what, s.table, s.sys_id, s.note) for s in report.steps]
    if rows:
        print(table(rows, ["action", "what", "table", "sys_id", "note"]))
    else:
        print("nothing of this job was on the instance")
    return 0
