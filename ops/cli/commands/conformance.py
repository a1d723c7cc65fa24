"""``twoway conformance --instance NAME [--scratch]``: does the instance behave as twoway
assumes (docs/servicenow.md)? Read-only unless ``--scratch`` (a development instance:
records named twoway-conformance-*, deleted again, even when interrupted).

Prints a report to attach to a bug. Exit 0 when the instance agrees, 4 where it does not.
"""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.commands.doctor import render_report
from ops.cli.commands.readiness import EXIT_OK, EXIT_REFUSED, local_instances
from ops.cli.output import emit

__all__ = ["register"]


def register(sub: Any) -> None:
    conformance = sub.add_parser(
        "conformance", help="check that an instance behaves as twoway assumes (a bug report)"
    )
    conformance.add_argument("--instance", required=True, help="an instance profile")
    conformance.add_argument(
        "--scratch",
        action="store_true",
        help="also check writes with records named twoway-conformance-* (development"
        " instances only; they are deleted again)",
    )
    conformance.add_argument("--json", action="store_true")
    conformance.set_defaults(run=_conformance)


def _conformance(args: argparse.Namespace) -> int:
    from workers.readiness.conformance import conformance

    config, _, instances = local_instances()
    report = conformance(args.instance, config, instances, scratch=args.scratch)
    answer = report.model_dump(mode="json")
    if args.json:
        emit({**answer, "ok": report.ok}, as_json=True)
    else:
        text = render_report(answer).replace("doctor:", "conformance:", 1)
        mode = "with scratch writes" if report.scratch else "read-only"
        print(f"{text}\n({mode}; the facts and their sources: {report.facts_source})")
    return EXIT_OK if report.ok else EXIT_REFUSED
