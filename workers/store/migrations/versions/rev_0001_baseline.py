"""Baseline: the store as it was before migrations (jobs, history, artifacts, tokens).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "twoway_schema",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "twoway_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(20), nullable=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("attempts", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("ca_request_id", sa.String(200), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_twoway_jobs_state_stage", "twoway_jobs", ["state", "stage"])
    op.create_index("ix_twoway_jobs_instance", "twoway_jobs", ["instance"])
    op.create_table(
        "twoway_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", _AT, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(20), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.UniqueConstraint("job_id", "seq", name="uq_twoway_events_job_seq"),
    )
    op.create_table(
        "twoway_artifacts",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("sealed", sa.Boolean, nullable=False),
        sa.Column("created_at", _AT, nullable=False),
    )
    op.create_table(
        "twoway_outputs",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("stage", sa.String(20), primary_key=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("recorded_at", _AT, nullable=False),
        sa.Column("forwarded", sa.Boolean, nullable=False),
    )
    op.create_table(
        "twoway_leases",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("until", _AT, nullable=False),
    )
    op.create_table(
        "twoway_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("revoked_at", _AT, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "twoway_tokens",
        "twoway_leases",
        "twoway_outputs",
        "twoway_artifacts",
        "twoway_events",
        "twoway_jobs",
        "twoway_schema",
    ):
        op.drop_table(table)
