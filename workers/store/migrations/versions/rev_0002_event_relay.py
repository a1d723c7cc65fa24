"""The events relay: its cursor over the history (the outbox), and kinds indexed.

The cursor starts after the last event already stored, so that a store which existed
before the relay does not publish its whole past. ``twoway_schema`` (the version marker
of the time before migrations) goes: Alembic's version table replaces it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    relay = op.create_table(
        "twoway_relay",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("last_event_id", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    events = sa.table("twoway_events", sa.column("id", sa.Integer))
    op.execute(
        relay.insert().values(
            name="events",
            last_event_id=sa.select(
                sa.func.coalesce(sa.func.max(events.c.id), 0)
            ).scalar_subquery(),
            updated_at=datetime.now(UTC),
        )
    )
    op.create_index("ix_twoway_events_kind", "twoway_events", ["kind"])
    op.drop_table("twoway_schema")


def downgrade() -> None:
    op.create_table(
        "twoway_schema",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.drop_index("ix_twoway_events_kind", table_name="twoway_events")
    op.drop_table("twoway_relay")
