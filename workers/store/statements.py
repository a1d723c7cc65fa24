"""The store's hot statements, built once.

SQLAlchemy computes a cache key for every statement object it executes; building the
same ``select(...)`` anew per call made that key (and the coercions behind it) the
largest cost of a stage's bookkeeping. These are built once, with bound parameters.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update

from . import schema as t

__all__ = [
    "BUMP_SEQ",
    "DELETE_ARTIFACTS_NAMED",
    "DELETE_LEASE",
    "DELETE_OUTPUT",
    "DELETE_OUTPUTS_OF",
    "FORGET_CA_REQUEST",
    "INSERT_ARTIFACT",
    "INSERT_EVENT",
    "INSERT_LEASE",
    "INSERT_OUTPUT",
    "LOCK_JOB",
    "LOCK_LEASE",
    "MARK_FORWARDED",
    "SELECT_ARTIFACT",
    "SELECT_ARTIFACTS",
    "SELECT_ARTIFACT_NAMES",
    "SELECT_JOB",
    "SELECT_LEASE",
    "SELECT_OUTPUT",
    "UPDATE_JOB",
    "UPDATE_LEASE",
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
DELETE_OUTPUT = t.outputs.delete().where(
    t.outputs.c.job_id == bindparam("job_id"), t.outputs.c.stage == bindparam("stage")
)
INSERT_OUTPUT = insert(t.outputs)
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
UPDATE_LEASE = (
    update(t.leases)
    .where(t.leases.c.job_id == bindparam("b_job_id"))
    .values(owner=bindparam("b_owner"), stage=bindparam("b_stage"), until=bindparam("b_until"))
)
DELETE_LEASE = t.leases.delete().where(
    t.leases.c.job_id == bindparam("job_id"), t.leases.c.owner == bindparam("owner")
)
