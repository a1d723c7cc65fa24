"""``twoway dead-letters list|replay|purge``: the messages that ran out of retries."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from typing import Any

from messages import Stage
from workers.errors import RequestInvalid

from ..output import emit, table

__all__ = ["EXIT_EXPIRING", "register"]

EXIT_EXPIRING = 3  # `list` found messages close to RabbitMQ's expiry: act now


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
        type=float,
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
    parser.add_argument("--stage", action="append", choices=[s.value for s in Stage])
    parser.add_argument("--limit", type=int, default=1000, help="messages per queue at most")
    parser.add_argument("--json", action="store_true")


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", action="append", default=[], help="only this job's messages")
    parser.add_argument("--message-id", action="append", default=[], help="only this message")
    parser.add_argument("--all", action="store_true", help="every message of the stages chosen")
    parser.add_argument("--actor", default=None, help="who (default: the login name)")


def _open() -> Any:
    from workers.config import Settings, load_config
    from workers.machinery.pipeline import build_routes

    from ..control import open_store
    from ..deadletters import DeadLetters

    settings = Settings.from_environment()
    return DeadLetters(settings.broker_url, build_routes(load_config()), open_store())


def _stages(args: argparse.Namespace) -> list[Stage]:
    return [Stage(s) for s in args.stage or []]


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(seconds, 0)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours:02d}h" if days else f"{hours}h{rest // 60:02d}m"


def _list(args: argparse.Namespace) -> int:
    letters = _open().peek(_stages(args), limit=args.limit)
    now = datetime.now(UTC)
    warn_s = args.warn_within * 3600
    expiring = [d for d in letters if d.expires_in_s is not None and d.expires_in_s < warn_s]
    if args.json:
        rows = [{**d.summary(now), "expiring": d in expiring} for d in letters]
        emit({"count": len(letters), "expiring": len(expiring), "dead_letters": rows}, as_json=True)
    elif letters:
        print(
            table(
                [
                    (
                        d.job_id or "?",
                        d.stage.value,
                        _human(d.age_s(now)),
                        _human(d.expires_in_s) + (" !" if d in expiring else ""),
                        d.error[:80],
                    )
                    for d in letters
                ],
                ["job", "stage", "age", "expires in", "error"],
            )
        )
    else:
        print("no dead letters")
    if expiring:
        soonest = min(d.expires_in_s or 0 for d in expiring)
        print(
            f"WARNING: {len(expiring)} dead letter(s) expire within {args.warn_within:g}h"
            f" (the first in {_human(soonest)}); RabbitMQ then drops them for good."
            " Replay them once the cause is fixed, or purge them on purpose.",
            file=sys.stderr,
        )
        return EXIT_EXPIRING
    return 0


def _wanted(args: argparse.Namespace) -> Any:
    if not (args.job or args.message_id or args.all):
        raise RequestInvalid(
            "say which dead letters: --job ID, --message-id ID or --all",
            hint="'twoway dead-letters list' shows them",
        )
    jobs, ids = set(args.job), set(args.message_id)

    def wanted(letter: Any) -> bool:
        return args.all or letter.job_id in jobs or letter.message_id in ids

    return wanted


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or os.environ.get("TWOWAY_ACTOR") or getpass.getuser())


def _report(outcomes: list[Any], args: argparse.Namespace, verb: str) -> int:
    if args.json:
        emit([vars(o) for o in outcomes], as_json=True)
    elif outcomes:
        print(
            table(
                [(o.job_id or "?", o.stage, o.message_id, o.detail) for o in outcomes],
                ["job", "stage", "message", verb],
            )
        )
    else:
        print("no dead letter matched")
    return 0 if all(o.done for o in outcomes) else 1


def _replay(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise RequestInvalid("--reason must say why", hint="it goes into each job's history")
    wanted = _wanted(args)
    outcomes = _open().replay(
        _stages(args),
        wanted=wanted,
        actor=_actor(args),
        reason=args.reason.strip(),
        limit=args.limit,
    )
    return _report(outcomes, args, "replayed")


def _purge(args: argparse.Namespace) -> int:
    wanted = _wanted(args)
    if not args.yes:
        raise RequestInvalid(
            "purge drops dead letters for good", hint="add --yes if that is what you want"
        )
    outcomes = _open().purge(
        _stages(args), wanted=wanted, actor=_actor(args), reason=args.reason, limit=args.limit
    )
    return _report(outcomes, args, "purged")
