"""CA callback signatures already accepted, so that a replayed callback is refused.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twoway_callback_signatures",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_twoway_callback_signatures_used_at", "twoway_callback_signatures", ["used_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_twoway_callback_signatures_used_at", table_name="twoway_callback_signatures")
    op.drop_table("twoway_callback_signatures")
