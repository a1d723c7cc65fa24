"""Renewals: a job may renew another (a new key and certificate for the same target).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("twoway_jobs") as batch:
        batch.add_column(sa.Column("renews", sa.String(32), nullable=True))
        batch.create_index("ix_twoway_jobs_renews", ["renews"])


def downgrade() -> None:
    with op.batch_alter_table("twoway_jobs") as batch:
        batch.drop_index("ix_twoway_jobs_renews")
        batch.drop_column("renews")
