"""Room for the state ``waiting_for_third_party`` (23 characters) in jobs and events.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("twoway_jobs", "twoway_events")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "state", type_=sa.String(32), existing_type=sa.String(20), existing_nullable=False
            )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "state", type_=sa.String(20), existing_type=sa.String(32), existing_nullable=False
            )
