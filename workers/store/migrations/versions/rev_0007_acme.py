"""ACME accounts (sealed keys), orders by request key and answered challenges, for the
``acme`` CA adapter.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twoway_acme_accounts",
        sa.Column("profile", sa.String(100), primary_key=True),
        sa.Column("directory", sa.String(500), primary_key=True),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("url", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "twoway_acme_orders",
        sa.Column("profile", sa.String(100), primary_key=True),
        sa.Column("request_key", sa.String(200), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("csr", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "twoway_acme_answers",
        sa.Column("challenge_url", sa.String(500), primary_key=True),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("twoway_acme_answers")
    op.drop_table("twoway_acme_orders")
    op.drop_table("twoway_acme_accounts")
