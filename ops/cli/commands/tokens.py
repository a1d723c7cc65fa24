"""``twoway tokens create|list|revoke``: the gateway's bearer tokens.

A token is printed once, when it is made; the store keeps only its digest.
"""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.client import EXIT_NOT_FOUND, CliError
from ops.cli.output import emit, table

__all__ = ["register"]


def register(sub: Any) -> None:
    tokens = sub.add_parser(
        "tokens", help="(local: opens the store) bearer tokens for the gateway (read, operator)"
    )
    actions = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="make a token and print it (shown only once)")
    create.add_argument("--role", required=True, choices=["read", "operator"])
    create.add_argument("--name", required=True, help="who or what holds it, e.g. a workflow")
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=_create)

    listing = actions.add_parser("list", help="the tokens (never the tokens themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)

    revoke = actions.add_parser("revoke", help="revoke a token by id, or all of a name")
    revoke.add_argument("token", metavar="ID_OR_NAME")
    revoke.add_argument("--json", action="store_true")
    revoke.set_defaults(run=_revoke)


def _create(args: argparse.Namespace) -> int:
    from ops.service.environment import open_store

    record, token = open_store().tokens.create(args.name, args.role)
    if args.json:
        emit({**record.summary(), "token": token}, as_json=True)
    else:
        print(f"token {record.id} ({record.role}) for {record.name!r}; it is shown only now:")
        print(token)
    return 0


def _list(args: argparse.Namespace) -> int:
    from ops.service.environment import open_store

    found = open_store().tokens.all(include_revoked=args.all)
    if args.json:
        emit([record.summary() for record in found], as_json=True)
        return 0
    rows = [
        (
            r.id,
            r.role,
            r.name,
            r.created_at.isoformat()[:19],
            r.revoked_at.isoformat()[:19] if r.revoked_at else "",
        )
        for r in found
    ]
    print(table(rows, ["id", "role", "name", "created (UTC)", "revoked (UTC)"]))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from ops.service.environment import open_store

    revoked = open_store().tokens.revoke(args.token)
    if not revoked:
        raise CliError(
            EXIT_NOT_FOUND,
            "TokenNotFound",
            f"no active token with id or name {args.token!r}",
            "twoway tokens list shows the active ones (--all: revoked ones too)",
        )
    if args.json:
        emit([record.summary() for record in revoked], as_json=True)
        return 0
    for record in revoked:
        print(f"revoked token {record.id} ({record.role}) of {record.name!r}")
    return 0
