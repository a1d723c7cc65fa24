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
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

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
        self, job_id: str, stage: Stage | str, owner: str, duration: timedelta
    ) -> LeaseHeld | None:
        """Take the lease on ``job_id`` (free, expired or ours); else say who holds it.

        ``job_id`` may also name a singleton task (the sweeper), ``stage`` what holds it.
        """
        now = _now()
        what = stage.value if isinstance(stage, Stage) else stage
        values = {"owner": owner, "stage": what, "until": now + duration}
        try:
            with self._writer.begin() as conn:
                row = self._lease_row(conn, job_id)
                if row is not None and row.owner != owner and _aware(row.until) > now:
                    return LeaseHeld(row.owner, row.stage, _aware(row.until))
                if row is None:
                    conn.execute(insert(t.leases).values(job_id=job_id, **values))
                else:
                    where = t.leases.c.job_id == job_id
                    conn.execute(update(t.leases).where(where).values(**values))
        except IntegrityError:  # another run inserted the first lease row at the same time
            with self._reader.connect() as conn:
                row = self._lease_row(conn, job_id, lock=False)
            if row is None:
                raise
            return LeaseHeld(row.owner, row.stage, _aware(row.until))
        return None

    def _lease_row(self, conn: Connection, job_id: str, *, lock: bool = True) -> Any:
        query = select(t.leases).where(t.leases.c.job_id == job_id)
        if self._postgres and lock:
            query = query.with_for_update()
        return conn.execute(query).first()

    def lease_of(self, job_id: str) -> LeaseHeld | None:
        """Who holds ``job_id`` now, if anyone (an expired lease is nobody's)."""
        with self._reader.connect() as conn:
            row = self._lease_row(conn, job_id, lock=False)
        if row is None or _aware(row.until) <= _now():
            return None
        return LeaseHeld(row.owner, row.stage, _aware(row.until))

    def leases(self) -> list[tuple[str, LeaseHeld]]:
        """Every unexpired lease: (job id or task name, who holds it)."""
        with self._reader.connect() as conn:
            rows = conn.execute(select(t.leases).where(t.leases.c.until > _now())).all()
        return [(row.job_id, LeaseHeld(row.owner, row.stage, _aware(row.until))) for row in rows]

    def release(self, job_id: str, owner: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                t.leases.delete().where(t.leases.c.job_id == job_id, t.leases.c.owner == owner)
            )
