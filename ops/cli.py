"""The ``twoway`` command: the parser, assembled from ops/commands/."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from workers.errors import TwowayError

from .commands import MODULES

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twoway", description="Outbound mutual TLS for ServiceNow, as queue workers."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except TwowayError as exc:
        print(f"twoway {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status
