"""Commands about certificates and their renewal: certificates, renew, scheduler."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from ..output import emit, table

__all__ = ["register"]


def register(sub: Any) -> None:
    certificates = sub.add_parser("certificates", help="every certificate twoway manages")
    certificates.add_argument("--json", action="store_true")
    certificates.set_defaults(run=_certificates)

    renew = sub.add_parser("renew", help="renew a succeeded job's certificate now")
    renew.add_argument("job_id")
    renew.add_argument("--reason", default="renewed by an operator")
    renew.add_argument("--json", action="store_true")
    renew.set_defaults(run=_renew)

    scheduler = sub.add_parser("scheduler", help="renew certificates at their renewal point")
    scheduler.add_argument("--every", type=float, help="seconds between rounds")
    scheduler.add_argument("--once", action="store_true", help="one round, then exit")
    scheduler.add_argument("--json", action="store_true")
    scheduler.set_defaults(run=_scheduler)


def _certificates(args: argparse.Namespace) -> int:
    from workers.levers.renewal import inventory

    from ..control import open_app

    app = open_app()
    try:
        found = [c.as_dict() for c in inventory(app)]
    finally:
        app.close()
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
    print(table([[c[k] for k in columns] for c in found], columns))
    return 0


def _renew(args: argparse.Namespace) -> int:
    from workers.levers.renewal import renew

    from ..control import open_app

    app = open_app()
    try:
        job, created = renew(app, args.job_id, actor=f"cli:{getpass.getuser()}", reason=args.reason)
    finally:
        app.close()
    if args.json:
        emit({**job.summary(), "created": created}, as_json=True)
    else:
        verb = "started" if created else "is already running"
        print(f"renewal {job.id} of job {args.job_id} {verb}")
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    from workers.levers.scheduler import RenewalScheduler
    from workers.logs import configure_logging

    from ..control import open_app
    from .local import wait_for_signal

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
