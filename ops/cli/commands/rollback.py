"""``twoway rollback ID``: undo what a job changed on its ServiceNow instance (through the
gateway's ``POST /v1/jobs/{id}/rollback``, operator token)."""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.commands.remote import add_remote, gateway
from ops.cli.output import emit, table

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
    rollback.add_argument(
        "--reason", required=True, help="why (recorded in the job's history), as for cancel"
    )
    add_remote(rollback)
    rollback.set_defaults(run=_rollback)


def _rollback(args: argparse.Namespace) -> int:
    report = gateway(args).post(f"/v1/jobs/{args.job_id}/rollback", {"reason": args.reason})
    if args.json:
        emit(report, as_json=True)
        return 0
    already = " (it had been rolled back before; nothing changed now)"
    print(f"job {report['job_id']}: {report['state']}{already if report['already_done'] else ''}")
    columns = ["action", "what", "table", "sys_id", "note"]
    rows = [[step.get(c) for c in columns] for step in report["steps"]]
    print(table(rows, columns) if rows else "nothing of this job was on the instance")
    return 0
