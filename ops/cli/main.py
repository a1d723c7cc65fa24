"""The ``twoway`` command: the parser, assembled from ops/cli/commands/.

Starting must be fast: nothing here (nor in a command module's top level) imports the
store, SQLAlchemy, FastAPI or pydantic models; each command imports what it needs when
it runs. Errors end as one line on stderr (``{"error", "message", "hint"}`` with --json)
and an exit code from ops/cli/client.py's table, by its one rule (``exit_code``).
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Sequence

from ops.cli.client import EXIT_USAGE, CliError, exit_code
from ops.cli.commands import MODULES

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twoway",
        description="Outbound mutual TLS for ServiceNow, as queue workers. The operator"
        " commands speak to the gateway (--url/--token, TWOWAY_URL/TWOWAY_TOKEN, or the"
        " context file 'twoway login' and 'twoway up' write); db, rotate-master-key and"
        " tokens open the store themselves.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.register(sub)
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` (the top-level one if it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(command)
            if isinstance(chosen, argparse.ArgumentParser):
                return chosen
    return parser


def _unknown(extra: list[str], parser: argparse.ArgumentParser) -> str:
    """'unrecognized arguments', with the option meant when one is close."""
    import difflib

    known = [o for action in parser._actions for o in action.option_strings]
    guesses = [m for word in extra for m in difflib.get_close_matches(word, known, n=1)]
    hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
    return f"unrecognized arguments: {' '.join(extra)}{hint}"


def _local_error(exc: Exception) -> CliError | None:
    """A twoway error raised here (a local command) as the CLI's error: its exit code is
    the one the gateway's answer to it would give (one rule: ``exit_code``). None for an
    exception that is not a twoway error."""
    from ops.gateway.status import status_for
    from workers.errors import TwowayError

    if not isinstance(exc, TwowayError):
        return None
    kind = type(exc).__name__
    message, hint = getattr(exc, "message", str(exc)), getattr(exc, "hint", "")
    return CliError(exit_code(status_for(exc), kind), kind, message, hint)


def _address_in_use(args: argparse.Namespace) -> CliError:
    port = getattr(args, "port", None)
    where = f"port {port}" if port else "the address"
    return CliError(
        EXIT_USAGE,
        "AddressInUse",
        f"{where} is in use: another process listens there",
        "choose another --port (0: one the system picks), or stop the other process",
    )


def _report(command: str, error: CliError, as_json: bool) -> int:
    if as_json:
        print(json.dumps(error.as_dict()), file=sys.stderr)
    else:
        print(f"twoway {command}: {error}", file=sys.stderr)
    return error.code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # told by the command's own parser (its usage, not the top level's)
        own = _subparser(parser, args.command)
        own.error(_unknown(extra, own))
    as_json = bool(getattr(args, "json", False))
    try:
        status: int = args.run(args)
    except CliError as exc:
        return _report(args.command, exc, as_json)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head: the reader has what it wanted
        sys.stderr.close()
        return 0
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        return _report(args.command, _address_in_use(args), as_json)
    except Exception as exc:
        local = _local_error(exc)
        if local is None:
            raise
        return _report(args.command, local, as_json)
    return status
