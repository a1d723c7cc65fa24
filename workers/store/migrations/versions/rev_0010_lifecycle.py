"""Revocation and notification outboxes; their cursors start at the present history.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twoway_revocations",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_twoway_revocations_due", "twoway_revocations", ["state", "next_at"])
    op.create_table(
        "twoway_notifications",
        sa.Column("event_id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(40), primary_key=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_twoway_notifications_due", "twoway_notifications", ["state", "next_at"])
    # An existing store's history happened before revocation and notification existed:
    # both followers start after it, so an upgrade neither revokes nor notifies the past.
    conn = op.get_bind()
    last = conn.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM twoway_events")).scalar()
    relay = sa.table(
        "twoway_relay",
        sa.column("name", sa.String),
        sa.column("last_event_id", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        relay,
        [
            {"name": name, "last_event_id": int(last or 0), "updated_at": now}
            for name in ("revoker", "notifier")
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM twoway_relay WHERE name IN ('revoker', 'notifier')")
    op.drop_index("ix_twoway_notifications_due", "twoway_notifications")
    op.drop_table("twoway_notifications")
    op.drop_index("ix_twoway_revocations_due", "twoway_revocations")
    op.drop_table("twoway_revocations")
