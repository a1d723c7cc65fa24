"""The ``twoway`` subcommands, one module per group.

Each module has ``register(subparsers)``, which adds its commands and sets ``run`` (a
function of the parsed arguments returning the exit status) as each one's default.
Add a module here to add commands; the parser is assembled in ops/cli/main.py.
"""

from __future__ import annotations

from ops.cli.commands import (
    bench,
    ca,
    conformance,
    context,
    db,
    dead_letters,
    doctor,
    estate,
    gateway,
    jobs,
    local,
    master_key,
    messaging,
    operate,
    outboxes,
    plan,
    remote,
    renewal,
    retention,
    rollback,
    tokens,
)

__all__ = ["MODULES"]

MODULES = [
    local,
    gateway,
    jobs,
    master_key,
    rollback,
    db,
    operate,
    tokens,
    ca,
    messaging,
    dead_letters,
    bench,
    renewal,
    outboxes,
    retention,
    plan,
    doctor,
    estate,
    conformance,
    remote,
    context,
]
