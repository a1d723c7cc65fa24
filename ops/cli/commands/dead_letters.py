"""``twoway dead-letters list|replay|purge``: the messages that ran out of retries, through
the gateway (``/v1/dead-letters``; replay and purge need an operator token)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ops.cli.client import (
    EXIT_EXPIRING,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    CliError,
)
from ops.cli.commands.remote import add_remote, gateway, positive, seconds
from ops.cli.output import emit, table

__all__ = ["register"]


def register(sub: Any) -> None:
    group = sub.add_parser("dead-letters", help="messages that exhausted their retries")
    actions = group.add_subparsers(dest="dead_letters_command", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help=f"job, stage, error, age and time left (exit {EXIT_EXPIRING}: some expire soon)",
    )
    _common(listing)
    listing.add_argument(
        "--warn-within",
        type=seconds,
        default=24.0,
        metavar="HOURS",
        help="flag messages that expire within this many hours (default 24)",
    )
    listing.set_defaults(run=_list)

    replay = actions.add_parser("replay", help="send messages back to their stage, retries reset")
    _common(replay)
    _selection(replay)
    replay.add_argument("--reason", required=True, help="why (kept in each job's history)")
    replay.set_defaults(run=_replay)

    purge = actions.add_parser("purge", help="drop messages for good (needs --yes)")
    _common(purge)
    _selection(purge)
    purge.add_argument("--reason", default="purged by an operator")
    purge.add_argument("--yes", action="store_true", help="really drop them")
    purge.set_defaults(run=_purge)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", action="append", help="repeatable (default: every stage)")
    parser.add_argument("--limit", type=positive, default=1000, help="messages per queue at most")
    add_remote(parser)


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", action="append", default=[], help="only this job's messages")
    parser.add_argument("--message-id", action="append", default=[], help="only this message")
    parser.add_argument("--all", action="store_true", help="every message of the stages chosen")


def _stages(args: argparse.Namespace) -> list[str]:
    return list(args.stage or [])


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(seconds, 0)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours:02d}h" if days else f"{hours}h{rest // 60:02d}m"


def _list(args: argparse.Namespace) -> int:
    found = gateway(args).get("/v1/dead-letters", stage=_stages(args), limit=args.limit)
    letters = found["dead_letters"]
    warn_s = args.warn_within * 3600
    for d in letters:
        d["expiring"] = d["expires_in_s"] is not None and d["expires_in_s"] < warn_s
    expiring = [d for d in letters if d["expiring"]]
    if args.json:
        emit(
            {"count": len(letters), "expiring": len(expiring), "dead_letters": letters},
            as_json=True,
        )
    elif letters:
        rows = [
            (
                d["job_id"] or "?",
                d["stage"],
                _human(d["age_s"]),
                _human(d["expires_in_s"]) + (" !" if d["expiring"] else ""),
                d["error"][:80],
            )
            for d in letters
        ]
        print(table(rows, ["job", "stage", "age", "expires in", "error"]))
    else:
        print("no dead letters")
    if expiring:
        soonest = min(d["expires_in_s"] or 0 for d in expiring)
        print(
            f"WARNING: {len(expiring)} dead letter(s) expire within {args.warn_within:g}h"
            f" (the first in {_human(soonest)}); RabbitMQ then drops them for good."
            " Replay them once the cause is fixed, or purge them on purpose.",
            file=sys.stderr,
        )
        return EXIT_EXPIRING
    return 0


def _act(args: argparse.Namespace, verb: str) -> int:
    if not (args.job or args.message_id or args.all):
        raise CliError(
            EXIT_USAGE,
            "UsageError",
            "say which dead letters: --job ID, --message-id ID or --all",
            "'twoway dead-letters list' shows them",
        )
    if not args.reason.strip():
        raise CliError(EXIT_USAGE, "UsageError", "--reason must say why", "it goes into history")
    body = {
        "stages": _stages(args),
        "jobs": args.job,
        "message_ids": args.message_id,
        "all": args.all,
        "reason": args.reason.strip(),
        "limit": args.limit,
    }
    outcomes = gateway(args).post(f"/v1/dead-letters/{verb}", body)["outcomes"]
    if args.json:
        emit(outcomes, as_json=True)
    elif outcomes:
        rows = [(o["job_id"] or "?", o["stage"], o["message_id"], o["detail"]) for o in outcomes]
        print(table(rows, ["job", "stage", "message", f"{verb}d"]))
    if not outcomes:
        raise CliError(
            EXIT_NOT_FOUND,
            "NothingMatched",
            "no dead letter matched",
            "'twoway dead-letters list' shows what there is",
        )
    return EXIT_OK if all(o["done"] for o in outcomes) else EXIT_REFUSED


def _replay(args: argparse.Namespace) -> int:
    return _act(args, "replay")


def _purge(args: argparse.Namespace) -> int:
    if not args.yes:
        raise CliError(
            EXIT_USAGE,
            "UsageError",
            "purge drops dead letters for good",
            "add --yes if that is what you want",
        )
    return _act(args, "purge")
