"""Bulk migrations in waves: a row per certificate of a batch (back-filled from the
``migration_started`` events of the batches started before, each as one started wave).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twoway_migrations",
        sa.Column("batch", sa.String(12), primary_key=True),
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("ca", sa.String(64), nullable=False),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("renewal", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_twoway_migrations_state", "twoway_migrations", ["state", "batch"])
    conn = op.get_bind()
    started = conn.execute(
        sa.text(
            "SELECT e.job_id, e.at, e.detail, j.instance, j.target FROM twoway_events e"
            " JOIN twoway_jobs j ON j.id = e.job_id WHERE e.kind = 'migration_started'"
        )
    ).all()
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for job_id, at, detail, instance, target in started:
        facts = json.loads(detail or "{}")
        if not facts.get("batch") or not facts.get("renewal"):
            continue
        moment = at if isinstance(at, datetime) else datetime.now(UTC)
        rows[(str(facts["batch"]), job_id)] = {
            "batch": str(facts["batch"])[:12],
            "job_id": job_id,
            "instance": instance,
            "target": target,
            "ca": str(facts.get("ca", "")),
            "wave": 0,
            "state": "started",
            "renewal": str(facts["renewal"]),
            "note": None,
            "actor": str(facts.get("actor", "unknown"))[:200],
            "reason": "migrated before waves were recorded",
            "created_at": moment,
            "started_at": moment,
        }
    if rows:
        table = sa.table(
            "twoway_migrations",
            *(sa.column(name) for name in next(iter(rows.values()))),
        )
        op.bulk_insert(table, list(rows.values()))


def downgrade() -> None:
    op.drop_index("ix_twoway_migrations_state", "twoway_migrations")
    op.drop_table("twoway_migrations")
