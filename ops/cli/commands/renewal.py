"""Certificates and their renewal: certificates and renew (through the gateway), and
the scheduler (a process of the deployment)."""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.commands.remote import add_remote, gateway, seconds
from ops.cli.output import emit, table

__all__ = ["register"]


def register(sub: Any) -> None:
    certificates = sub.add_parser("certificates", help="every certificate twoway manages")
    certificates.add_argument("--instance", help="only this instance's certificates")
    certificates.add_argument(
        "--state",
        action="append",
        help="current, due, renewing, renewal_failed, expired or replaced (repeatable)",
    )
    certificates.add_argument("--days-left", type=float, help="notAfter within this many days")
    add_remote(certificates)
    certificates.set_defaults(run=_certificates)

    renew = sub.add_parser("renew", help="renew a succeeded job's certificate now")
    renew.add_argument("job_id")
    renew.add_argument("--reason", default="renewed by an operator")
    add_remote(renew)
    renew.set_defaults(run=_renew)

    scheduler = sub.add_parser("scheduler", help="renew certificates at their renewal point")
    scheduler.add_argument("--every", type=seconds, help="seconds between rounds")
    scheduler.add_argument("--once", action="store_true", help="one round, then exit")
    scheduler.add_argument("--json", action="store_true")
    scheduler.set_defaults(run=_scheduler)


def _certificates(args: argparse.Namespace) -> int:
    client = gateway(args)
    params = {"instance": args.instance, "state": args.state, "days_left": args.days_left}
    found: list[dict[str, Any]] = []
    path: str | None = "/v1/certificates"
    while path is not None:  # every page, soonest notAfter first
        page = client.get(path, **params)
        found += page["certificates"]
        path, params = page.get("next"), {}
    if args.json:
        emit(found, as_json=True)
        return 0
    columns = [
        "job_id",
        "instance",
        "target",
        "protocol_profile",
        "keystore_record",
        "not_after",
        "days_left",
        "state",
        "renewed_by",
    ]
    print(table([[c.get(k) for k in columns] for c in found], columns))
    return 0


def _renew(args: argparse.Namespace) -> int:
    job = gateway(args).post(f"/v1/jobs/{args.job_id}/renew", {"reason": args.reason})
    if args.json:
        emit(job, as_json=True)
    else:
        verb = "started" if job["created"] else "is already running"
        print(f"renewal {job['job_id']} of job {args.job_id} {verb}")
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    from ops.cli.commands.local import wait_for_signal
    from ops.service.environment import open_app
    from workers.levers.scheduler import RenewalScheduler
    from workers.logs import configure_logging

    configure_logging()
    app = open_app()
    scheduler = RenewalScheduler(app)
    try:
        if args.once:
            report = scheduler.run_once()
            summary = {"ran": report.ran, "started": report.started, "deleted": report.deleted}
            emit(summary, as_json=args.json)
            return 0
        scheduler.start(args.every)
        wait_for_signal()
        scheduler.stop()
    finally:
        app.close()
    return 0
