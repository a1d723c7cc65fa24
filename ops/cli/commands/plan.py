"""``twoway plan JOB.json``: what a job would do on its instance, read-only, asked of the
gateway (``POST /v1/plan``, a read token), which holds the instance logins.

Exit 0 when the job is ready, 4 when it would be refused (every reason listed), 2 when
the file is missing or not JSON; the other codes of the CLI's table otherwise.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ops.cli.client import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, CliError, read_input
from ops.cli.commands.remote import add_remote, gateway
from ops.cli.output import emit

__all__ = ["register", "render_plan"]


def register(sub: Any) -> None:
    plan = sub.add_parser(
        "plan", help="what a job request would change on its instance (read-only)"
    )
    plan.add_argument("file", help="a job request (JSON file, - for stdin)")
    add_remote(plan)
    plan.set_defaults(run=_plan)


def _plan(args: argparse.Namespace) -> int:
    text = read_input(args.file)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            EXIT_USAGE, "InputInvalid", f"{args.file} is not JSON: {exc}", "give a job request"
        ) from exc
    result = gateway(args).post("/v1/plan", raw)
    if args.json:
        emit(result, as_json=True)
    else:
        print(render_plan(result))
    return EXIT_OK if result["ready"] else EXIT_REFUSED


def render_plan(plan: dict[str, Any]) -> str:
    """The plan as text: verdict, refusals, records (field: before -> after), third party."""
    verdict = "READY" if plan["ready"] else f"REFUSED ({len(plan['refusals'])} reason(s))"
    lines = [f"plan: {plan['target'] or 'the job'} on instance {plan['instance']!r}: {verdict}"]
    if plan["refusals"]:
        lines += ["", "refused because:"]
        for refusal in plan["refusals"]:
            lines.append(f"  - [{refusal['error']}] {refusal['message']}")
            if refusal["hint"]:
                lines.append(f"      fix: {refusal['hint']}")
    for key, title in (("creates", "creates"), ("changes", "changes"), ("reuses", "reuses")):
        if plan[key]:
            lines += ["", f"{title}:"]
            for record in plan[key]:
                lines += _record(record)
    if plan["third_party"]:
        lines += ["", "the third party:", *_third_party(plan["third_party"])]
    if plan["notes"]:
        lines += ["", "notes:", *(f"  - {note}" for note in plan["notes"])]
    return "\n".join(lines)


def _record(record: dict[str, Any]) -> list[str]:
    sys_id = f" [{record['sys_id']}]" if record["sys_id"] else ""
    lines = [f"  {record['table']} {record['name']!r} ({record['what']}){sys_id}"]
    for change in record["fields"]:
        before = "(new)" if change["before"] is None else (change["before"] or "(empty)")
        lines.append(f"      {change['field']}: {before} -> {change['after']}")
    if record["note"]:
        lines.append(f"      ({record['note']})")
    return lines


def _third_party(party: dict[str, Any]) -> list[str]:
    lines = [f"  client certificate: {party['client_certificate']}"]
    for anchor in party["trust"]:
        lines.append(f"  must trust: {anchor['subject']} (SHA-256 {anchor['sha256']})")
    if party["trust_note"]:
        lines.append(f"  must trust: {party['trust_note']}")
    lines += [f"  server: {party['server_certificate']}", f"  proof: {party['proof']}"]
    return lines
