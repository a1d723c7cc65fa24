"""``twoway context list|use NAME``: the named contexts of the context file (which
gateway the CLI talks to), as ``kubectl config get-contexts|use-context``. Tokens are
never shown."""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.client import EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, CliError, context_path
from ops.cli.output import emit, table

__all__ = ["register"]


def register(sub: Any) -> None:
    context = sub.add_parser(
        "context",
        help="list the CLI's named contexts, or switch to one (twoway up adds its own)",
    )
    verbs = context.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="every context: name, gateway, the current one")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    use = verbs.add_parser("use", help="make NAME the current context")
    use.add_argument("name")
    use.add_argument("--json", action="store_true")
    use.set_defaults(run=_use)


def _read() -> dict[str, Any]:
    from ops.cli.contexts import read_contexts

    try:
        return read_contexts(context_path())
    except (OSError, ValueError) as exc:
        raise CliError(
            EXIT_USAGE,
            "ContextInvalid",
            f"the context file {context_path()} cannot be read ({exc})",
            "write it again: twoway login URL --token TOKEN",
        ) from None


def _list(args: argparse.Namespace) -> int:
    data = _read()
    rows = [
        {"name": name, "url": saved.get("url"), "current": name == data["current"]}
        for name, saved in data["contexts"].items()
    ]
    if args.json:
        emit({"file": str(context_path()), "contexts": rows}, as_json=True)
    elif not rows:
        print(f"no contexts in {context_path()} (twoway login URL --token T, or twoway up)")
    else:
        cells = [["*" if r["current"] else "", r["name"], r["url"]] for r in rows]
        print(table(cells, ["current", "name", "gateway"]))
    return EXIT_OK


def _use(args: argparse.Namespace) -> int:
    from ops.cli.contexts import use_context

    if not use_context(context_path(), args.name):
        known = ", ".join(_read()["contexts"]) or "none"
        raise CliError(
            EXIT_NOT_FOUND,
            "NoSuchContext",
            f"no context named {args.name!r} in {context_path()}",
            f"twoway context list shows them (known: {known})",
        )
    emit({"current": args.name} if args.json else f"now using {args.name}", as_json=args.json)
    return EXIT_OK
