"""The store's hot statements, built once.

SQLAlchemy computes a cache key for every statement object it executes; building the
same ``select(...)`` anew per call made that key (and the coercions behind it) the
largest cost of a stage's bookkeeping. These are built once, with bound parameters.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from workers.store import schema as t

__all__ = [
    "BUMP_SEQ",
    "DELETE_ARTIFACTS_NAMED",
    "DELETE_LEASE",
    "DELETE_OUTPUTS_OF",
    "FORGET_CA_REQUEST",
    "INSERT_ARTIFACT",
    "INSERT_EVENT",
    "INSERT_LEASE",
    "LOCK_JOB",
    "LOCK_LEASE",
    "MARK_FORWARDED",
    "SELECT_ARTIFACT",
    "SELECT_ARTIFACTS",
    "SELECT_ARTIFACT_NAMES",
    "SELECT_JOB",
    "SELECT_LEASE",
    "SELECT_OUTPUT",
    "TAKE_FREE_LEASE",
    "UPDATE_JOB",
    "UPDATE_LEASE",
    "UPSERT_OUTPUT",
]

SELECT_JOB = select(t.jobs).where(t.jobs.c.id == bindparam("job_id"))
LOCK_JOB = SELECT_JOB.with_for_update()

# Every mutable column at once, so that one statement (one cache entry) serves every
# transition; unchanged columns are written with the values just read under the lock.
UPDATE_JOB = (
    update(t.jobs)
    .where(t.jobs.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        stage=bindparam("b_stage"),
        updated_at=bindparam("b_updated_at"),
        version=bindparam("b_version"),
        attempts=bindparam("b_attempts"),
        error=bindparam("b_error"),
        ca_request_id=bindparam("b_ca_request_id"),
        last_seq=bindparam("b_last_seq"),
    )
)
INSERT_EVENT = insert(t.events)
BUMP_SEQ = (
    update(t.jobs).where(t.jobs.c.id == bindparam("b_id")).values(last_seq=bindparam("b_last_seq"))
)

SELECT_OUTPUT = select(t.outputs.c.message, t.outputs.c.forwarded).where(
    t.outputs.c.job_id == bindparam("job_id"), t.outputs.c.stage == bindparam("stage")
)
# A stage's output, recorded or recorded anew (a replayed stage): one upsert per dialect.
_RECORDED = ("message", "recorded_at", "forwarded")
UPSERT_OUTPUT = {
    "sqlite": sqlite_insert(t.outputs).on_conflict_do_update(
        index_elements=["job_id", "stage"],
        set_={name: sqlite_insert(t.outputs).excluded[name] for name in _RECORDED},
    ),
    "postgresql": pg_insert(t.outputs).on_conflict_do_update(
        index_elements=["job_id", "stage"],
        set_={name: pg_insert(t.outputs).excluded[name] for name in _RECORDED},
    ),
}
DELETE_OUTPUTS_OF = t.outputs.delete().where(
    t.outputs.c.job_id == bindparam("job_id"),
    t.outputs.c.stage.in_(bindparam("stages", expanding=True)),
)
MARK_FORWARDED = (
    update(t.outputs)
    .where(t.outputs.c.job_id == bindparam("b_job_id"), t.outputs.c.stage == bindparam("b_stage"))
    .values(forwarded=True)
)

_ARTIFACT = (t.artifacts.c.job_id == bindparam("job_id"), t.artifacts.c.name == bindparam("name"))
SELECT_ARTIFACT = select(t.artifacts.c.data, t.artifacts.c.sealed).where(*_ARTIFACT)
SELECT_ARTIFACTS = select(t.artifacts.c.name, t.artifacts.c.data, t.artifacts.c.sealed).where(
    t.artifacts.c.job_id == bindparam("job_id")
)
SELECT_ARTIFACT_NAMES = select(t.artifacts.c.name).where(
    t.artifacts.c.job_id == bindparam("job_id"),
    t.artifacts.c.name.in_(bindparam("names", expanding=True)),
)
DELETE_ARTIFACTS_NAMED = t.artifacts.delete().where(
    t.artifacts.c.job_id == bindparam("job_id"),
    t.artifacts.c.name.in_(bindparam("names", expanding=True)),
)
INSERT_ARTIFACT = insert(t.artifacts)
FORGET_CA_REQUEST = (
    update(t.jobs).where(t.jobs.c.id == bindparam("b_id")).values(ca_request_id=None)
)

SELECT_LEASE = select(t.leases).where(t.leases.c.job_id == bindparam("job_id"))
LOCK_LEASE = SELECT_LEASE.with_for_update()
INSERT_LEASE = insert(t.leases)
# A lease taken if nobody holds one (a row returned); else nothing, and the caller looks.
TAKE_FREE_LEASE = {
    "sqlite": sqlite_insert(t.leases)
    .on_conflict_do_nothing(index_elements=["job_id"])
    .returning(t.leases.c.job_id),
    "postgresql": pg_insert(t.leases)
    .on_conflict_do_nothing(index_elements=["job_id"])
    .returning(t.leases.c.job_id),
}
UPDATE_LEASE = (
    update(t.leases)
    .where(t.leases.c.job_id == bindparam("b_job_id"))
    .values(owner=bindparam("b_owner"), stage=bindparam("b_stage"), until=bindparam("b_until"))
)
DELETE_LEASE = t.leases.delete().where(
    t.leases.c.job_id == bindparam("job_id"), t.leases.c.owner == bindparam("owner")
)
