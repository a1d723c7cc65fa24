"""Schema migrations: every process brings the store to the newest revision at start-up.

The revisions live in ``workers/store/migrations/versions`` (Alembic). Several hosts may
start at once: on PostgreSQL the upgrade runs under a transaction-level advisory lock, on
SQLite inside ``BEGIN IMMEDIATE`` (the store's writer engine), so one process migrates
and the others find the work done. A store made before migrations existed is stamped at
the baseline first. A table in ``schema.py`` that no revision creates stops start-up with
an error that says so, instead of failing later on a missing table.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from workers.errors import ConfigError
from workers.store import schema

__all__ = [
    "BASELINE",
    "LOCK_KEY",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "drift",
    "head_revision",
    "new_revision",
    "upgrade",
    "upgrade_only",
]

VERSION_TABLE = "twoway_alembic_version"
BASELINE = "0001"
LOCK_KEY = 7302671  # pg_advisory_xact_lock key for schema changes
_log = logging.getLogger(__name__)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, without an ini file: the revisions ship in the package."""
    config = Config()
    config.set_main_option("script_location", "workers.store:migrations")
    config.set_main_option("file_template", "rev_%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "workers/store/migrations/versions holds no revision"
    return head


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the database to the newest revision (under a lock); returns that revision."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        tables = set(inspect(conn).get_table_names())
        current = current_revision(conn) if VERSION_TABLE in tables else None
        if current != head_revision():
            config = alembic_config(conn)
            if current is None and "twoway_jobs" in tables:
                _log.warning("stamping a store made before migrations at %s", BASELINE)
                command.stamp(config, BASELINE)
            _log.info("upgrading the store from %s to %s", current, head_revision())
            command.upgrade(config, "head")
            tables = set(inspect(conn).get_table_names())
        missing = sorted(set(schema.metadata.tables) - tables)
        if missing:
            raise ConfigError(
                f"the store has no table {', '.join(missing)}: no migration creates it",
                hint="add a revision: 'twoway db revision -m WHAT' writes one from schema.py",
            )
    return head_revision()


def drift(connection: Connection) -> list[object]:
    """What differs between the database and ``schema.metadata`` (empty when in step)."""
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
    )
    return list(compare_metadata(context, schema.metadata))


def new_revision(engine: Engine, message: str) -> Path:
    """Write a revision with what ``schema.py`` adds over the newest one (for developers).

    ``engine`` must be an empty scratch database: it is brought to head first, and the
    difference between it and ``schema.metadata`` becomes the new revision's body.
    """
    upgrade_only(engine)
    with engine.begin() as conn:
        rev_id = f"{int(head_revision()) + 1:04d}"
        config = alembic_config(conn)
        script = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def upgrade_only(engine: Engine) -> None:
    """Run the revisions to head, without the check that every table has one."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
