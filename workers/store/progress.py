"""Stage outputs and stage leases: what makes redelivery harmless.

An output is a stage's result message, recorded with the transition that completes the
stage, and marked ``forwarded`` once the next message is sent; a redelivery re-sends an
unforwarded output instead of running the stage again. A lease gives one run at a time
the right to work on a job; a duplicate that finds it held comes back later.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update

from messages import Stage

from . import schema as t

__all__ = ["LeaseHeld", "Progress", "RecordedOutput", "put_output"]


@dataclass(frozen=True)
class RecordedOutput:
    message: str
    forwarded: bool


@dataclass(frozen=True)
class LeaseHeld:
    """Another run holds the job until ``until``."""

    owner: str
    stage: str
    until: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def put_output(conn: Connection, job_id: str, stage: Stage, message: str) -> None:
    where = (t.outputs.c.job_id == job_id, t.outputs.c.stage == stage.value)
    conn.execute(t.outputs.delete().where(*where))
    conn.execute(
        insert(t.outputs).values(
            job_id=job_id, stage=stage.value, message=message, recorded_at=_now(), forwarded=False
        )
    )


class Progress:
    def __init__(self, reader: Engine, writer: Engine, *, postgres: bool) -> None:
        self._reader = reader
        self._writer = writer
        self._postgres = postgres

    def get_output(self, job_id: str, stage: Stage) -> RecordedOutput | None:
        query = select(t.outputs.c.message, t.outputs.c.forwarded).where(
            t.outputs.c.job_id == job_id, t.outputs.c.stage == stage.value
        )
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        return RecordedOutput(row.message, bool(row.forwarded)) if row else None

    def mark_forwarded(self, job_id: str, stage: Stage) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                update(t.outputs)
                .where(t.outputs.c.job_id == job_id, t.outputs.c.stage == stage.value)
                .values(forwarded=True)
            )

    def clear_outputs(self, job_id: str, stages: Collection[Stage]) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                t.outputs.delete().where(
                    t.outputs.c.job_id == job_id,
                    t.outputs.c.stage.in_([s.value for s in stages]),
                )
            )

    def acquire(
        self, job_id: str, stage: Stage, owner: str, duration: timedelta
    ) -> LeaseHeld | None:
        """Take the job's lease (free, expired or ours); else say who holds it."""
        now = _now()
        with self._writer.begin() as conn:
            query = select(t.leases).where(t.leases.c.job_id == job_id)
            if self._postgres:
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is not None and row.owner != owner and _aware(row.until) > now:
                return LeaseHeld(row.owner, row.stage, _aware(row.until))
            values = {"owner": owner, "stage": stage.value, "until": now + duration}
            if row is None:
                conn.execute(insert(t.leases).values(job_id=job_id, **values))
            else:
                conn.execute(update(t.leases).where(t.leases.c.job_id == job_id).values(**values))
        return None

    def release(self, job_id: str, owner: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                t.leases.delete().where(t.leases.c.job_id == job_id, t.leases.c.owner == owner)
            )
