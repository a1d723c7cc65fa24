"""``twoway revocations`` and ``twoway notifications``: the two lifecycle outboxes as an
operator sees them (through the gateway), newest first, with counts per state."""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.commands.remote import add_remote, gateway
from ops.cli.output import emit, table

__all__ = ["register"]

_COLUMNS = {
    "revocations": [
        "job_id",
        "profile",
        "serial",
        "trigger",
        "reason",
        "state",
        "attempts",
        "next_at",
        "last_error",
    ],
    "notifications": [
        "event_id",
        "channel",
        "job_id",
        "kind",
        "state",
        "attempts",
        "sent_at",
        "last_error",
    ],
}


def register(sub: Any) -> None:
    for what, states, blurb in (
        ("revocations", "pending, done, asked or failed", "certificates revoked or to revoke"),
        ("notifications", "pending, sent or dead", "notifications sent, pending or given up"),
    ):
        parser = sub.add_parser(what, help=blurb + ", newest first")
        parser.add_argument("--state", help=f"only rows in this state: {states}")
        parser.add_argument("--job", dest="job_id", help="only this job's rows")
        parser.add_argument("--limit", type=int, default=100, help="at most this many (1-500)")
        add_remote(parser)
        parser.set_defaults(run=_listing, what=what)


def _listing(args: argparse.Namespace) -> int:
    params = {"state": args.state, "job_id": args.job_id, "limit": args.limit}
    page = gateway(args).get(f"/v1/{args.what}", **params)
    if args.json:
        emit(page, as_json=True)
        return 0
    columns = _COLUMNS[args.what]
    rows = page[args.what]
    print(table([[row.get(k) for k in columns] for row in rows], columns))
    counts = ", ".join(f"{n} {state}" for state, n in sorted(page["counts"].items()))
    print(f"{len(rows)} shown; in all: {counts or 'none'}")
    return 0
