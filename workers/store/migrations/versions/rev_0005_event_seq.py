"""Each job's last event number on its row, so appending an event needs no MAX() query.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("twoway_jobs") as batch:
        batch.add_column(sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"))
    jobs = sa.table("twoway_jobs", sa.column("id", sa.String), sa.column("last_seq", sa.Integer))
    events = sa.table("twoway_events", sa.column("job_id", sa.String), sa.column("seq", sa.Integer))
    latest = (
        sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0))
        .where(events.c.job_id == jobs.c.id)
        .scalar_subquery()
    )
    op.execute(jobs.update().values(last_seq=latest))


def downgrade() -> None:
    with op.batch_alter_table("twoway_jobs") as batch:
        batch.drop_column("last_seq")
