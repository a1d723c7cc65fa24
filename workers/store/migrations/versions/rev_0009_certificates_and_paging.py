"""The certificate inventory (notAfter and renewal point stored, indexed, back-filled) and
the indexes that keyset-page every list of jobs.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 1000
_FILTERS = ("state", "stage", "instance", "target")


def upgrade() -> None:
    op.create_table(
        "twoway_certificates",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("instance", sa.String(64), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("ca_profile", sa.String(100), nullable=False),
        sa.Column("protocol_profile", sa.String(100), nullable=False),
        sa.Column("keystore_record", sa.String(100), nullable=False),
        sa.Column("keystore_sys_id", sa.String(32), nullable=True),
        sa.Column("keystore_format", sa.String(16), nullable=False, server_default="jks"),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewal_point", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renew_before", sa.String(20), nullable=True),
        sa.Column("renews", sa.String(32), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_by", sa.String(32), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_sys_id", sa.String(32), nullable=True),
        sa.Column("keystore_deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("pruned", sa.Integer, nullable=False, server_default="0"),
    )
    _backfill()
    where = sa.text("replaced_by IS NULL")
    op.create_index(
        "ix_twoway_certificates_due",
        "twoway_certificates",
        ["renewal_point", "job_id"],
        postgresql_where=where,
        sqlite_where=where,
    )
    op.create_index(
        "ix_twoway_certificates_not_after", "twoway_certificates", ["not_after", "job_id"]
    )
    op.create_index(
        "ix_twoway_certificates_open",
        "twoway_certificates",
        ["instance", "not_after", "renewal_point"],
        postgresql_where=where,
        sqlite_where=where,
    )
    op.create_index(
        "ix_twoway_certificates_instance",
        "twoway_certificates",
        ["instance", "not_after", "job_id"],
    )
    retired = sa.text("retired_at IS NOT NULL AND NOT keystore_deleted")
    op.create_index(
        "ix_twoway_certificates_retired",
        "twoway_certificates",
        ["retired_at"],
        postgresql_where=retired,
        sqlite_where=retired,
    )
    prunable = sa.text("keystore_deleted AND pruned < 2")
    op.create_index(
        "ix_twoway_certificates_prunable",
        "twoway_certificates",
        ["retired_at"],
        postgresql_where=prunable,
        sqlite_where=prunable,
    )
    op.drop_index("ix_twoway_jobs_instance", table_name="twoway_jobs")
    order: list[str | sa.TextClause] = [sa.text("created_at DESC"), "id"]
    op.create_index("ix_twoway_jobs_order", "twoway_jobs", order)
    for column in _FILTERS:
        op.create_index(f"ix_twoway_jobs_{column}_order", "twoway_jobs", [column, *order])
    updated = ["state", "updated_at", "id"]
    op.create_index("ix_twoway_jobs_state_updated", "twoway_jobs", updated)


def _backfill() -> None:
    """A row for each succeeded job's certificate (renewal points by the default rule: the
    scheduler moves those of CA profiles with a ``renew_before`` when it starts)."""
    from workers.store import schema as t
    from workers.store.certificates import certificate_values, keystore_sys_id_of

    conn = op.get_bind()
    j, a, o = t.jobs, t.artifacts, t.outputs
    last = ""
    while True:
        query = (
            sa.select(
                j.c.id,
                j.c.instance,
                j.c.target,
                j.c.request,
                j.c.renews,
                j.c.created_at,
                a.c.data.label("pem"),
                o.c.message.label("uploaded"),
            )
            .join(a, sa.and_(a.c.job_id == j.c.id, a.c.name == "certificate"))
            .outerjoin(o, sa.and_(o.c.job_id == j.c.id, o.c.stage == "upload-keystore"))
            .where(j.c.state == "succeeded", j.c.id > last)
            .order_by(j.c.id)
            .limit(_BATCH)
        )
        rows = conn.execute(query).all()
        if not rows:
            break
        values = [
            certificate_values(dict(r._mapping), bytes(r.pem), keystore_sys_id_of(r.uploaded), None)
            for r in rows
        ]
        conn.execute(sa.insert(t.certificates), values)
        last = rows[-1].id
    _backfill_fates(conn)


def _backfill_fates(conn: sa.Connection) -> None:
    """Which certificates a succeeded renewal replaced, and their keystore records' fate."""
    from workers.store import schema as t

    c, j, e = t.certificates, t.jobs, t.events
    renewals = sa.select(j.c.id, j.c.renews).where(
        j.c.state == "succeeded", j.c.renews.is_not(None)
    )
    for renewal in conn.execute(renewals.order_by(j.c.created_at)).all():
        conn.execute(
            sa.update(c).where(c.c.job_id == renewal.renews).values(replaced_by=renewal.id)
        )
    fates = sa.select(e.c.job_id, e.c.kind, e.c.at, e.c.detail).where(
        e.c.kind.in_(["keystore_retired", "keystore_deleted"])
    )
    for event in conn.execute(fates.order_by(e.c.id)).all():
        if event.kind == "keystore_retired":
            sys_id = json.loads(event.detail).get("sys_id")
            change = {"retired_at": event.at, "retired_sys_id": sys_id}
        else:
            change = {"keystore_deleted": True}
        conn.execute(sa.update(c).where(c.c.job_id == event.job_id).values(**change))


def downgrade() -> None:
    op.drop_index("ix_twoway_jobs_state_updated", table_name="twoway_jobs")
    for column in _FILTERS:
        op.drop_index(f"ix_twoway_jobs_{column}_order", table_name="twoway_jobs")
    op.drop_index("ix_twoway_jobs_order", table_name="twoway_jobs")
    op.create_index("ix_twoway_jobs_instance", "twoway_jobs", ["instance"])
    op.drop_table("twoway_certificates")
