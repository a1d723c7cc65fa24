"""Alembic's environment: migrations run on a connection the store hands over.

The store (``workers.store.migrate``) opens the transaction, takes the lock that lets
several hosts start at once, and passes the connection in ``config.attributes``; the
migrations run inside that transaction and commit with it.
"""

from __future__ import annotations

from alembic import context

from workers.errors import ConfigError
from workers.store.migrate import VERSION_TABLE
from workers.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise ConfigError(
        "the store's migrations run on a connection the store provides",
        hint="use 'twoway db upgrade' (or start any twoway process) instead of the alembic CLI",
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
