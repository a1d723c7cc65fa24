"""``twoway doctor --instance NAME``: is the instance ready for a first job? Read-only.

Exit 0 when no check fails, 4 when one does (2: an unknown instance profile).
"""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.commands.readiness import EXIT_OK, EXIT_REFUSED, local_instances
from ops.cli.output import emit, table

__all__ = ["register", "render_report"]

_MARK = {"pass": "pass", "fail": "FAIL", "unknown": "unknown"}


def register(sub: Any) -> None:
    doctor = sub.add_parser(
        "doctor", help="check an instance and its integration user before a first job"
    )
    doctor.add_argument("--instance", required=True, help="an instance profile of pipeline.toml")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(run=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from workers.readiness.doctor import doctor

    config, _, instances = local_instances()
    report = doctor(args.instance, config, instances)
    if args.json:
        emit({**report.model_dump(mode="json"), "ok": report.ok}, as_json=True)
    else:
        print(render_report(report.model_dump(mode="json")))
    return EXIT_OK if report.ok else EXIT_REFUSED


def render_report(report: dict[str, Any]) -> str:
    checks = report["checks"]
    failed = sum(c["status"] == "fail" for c in checks)
    unknown = sum(c["status"] == "unknown" for c in checks)
    head = (
        f"doctor: instance {report['instance']!r} ({report['url']}) as {report['user'] or '?'}:"
        f" {len(checks)} checks, {failed} failed, {unknown} unknown"
    )
    rows = [
        (
            c["group"],
            c["name"],
            _MARK[c["status"]],
            c["detail"],
            c["fix"] if c["status"] != "pass" else "",
        )
        for c in checks
    ]
    return head + "\n" + table(rows, ["group", "check", "status", "detail", "fix"])
