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

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from messages import Stage
from workers.errors import StateConflict
from workers.store import schema as t
from workers.store.statements import (
    DELETE_LEASE,
    INSERT_LEASE,
    LOCK_LEASE,
    MARK_FORWARDED,
    SELECT_LEASE,
    SELECT_OUTPUT,
    TAKE_FREE_LEASE,
    UPDATE_LEASE,
    UPSERT_OUTPUT,
)
from workers.store.writer import Writer

__all__ = ["LEVER_LEASES", "LeaseHeld", "Progress", "RecordedOutput", "put_output"]

# Leases an operator's lever takes (``stage`` of the lease row): while one is held, the
# job is the lever's; no other lever moves it and no stage runs it.
LEVER_LEASES = frozenset({"rollback"})


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
    conn.execute(
        UPSERT_OUTPUT[conn.dialect.name],
        {
            "job_id": job_id,
            "stage": stage.value,
            "message": message,
            "recorded_at": _now(),
            "forwarded": False,
        },
    )


class Progress:
    def __init__(self, reader: Engine, writer: Writer, *, postgres: bool) -> None:
        self._reader = reader
        self._writer = writer
        self._postgres = postgres

    def get_output(self, job_id: str, stage: Stage) -> RecordedOutput | None:
        with self._reader.connect() as conn:
            return self.output_in(conn, job_id, stage)

    def mark_forwarded(self, job_id: str, stage: Stage) -> None:
        with self._writer.begin() as conn:
            self.mark_forwarded_in(conn, job_id, stage)

    def mark_forwarded_in(self, conn: Connection, job_id: str, stage: Stage) -> None:
        conn.execute(MARK_FORWARDED, {"b_job_id": job_id, "b_stage": stage.value})

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
        try:
            with self._writer.begin() as conn:
                return self.acquire_in(conn, job_id, stage, owner, duration)
        except IntegrityError:  # another run inserted the first lease row at the same time
            with self._reader.connect() as conn:
                row = self._lease_row(conn, job_id, lock=False)
            if row is None:
                raise
            return LeaseHeld(row.owner, row.stage, _aware(row.until))

    def acquire_in(
        self, conn: Connection, job_id: str, stage: Stage | str, owner: str, duration: timedelta
    ) -> LeaseHeld | None:
        """``acquire`` inside the caller's transaction."""
        now = _now()
        what = stage.value if isinstance(stage, Stage) else stage
        values = {"owner": owner, "stage": what, "until": now + duration}
        # Mostly nobody holds one (a lease row lives only while a stage runs): one insert.
        taken = conn.execute(TAKE_FREE_LEASE[conn.dialect.name], {"job_id": job_id, **values})
        if taken.first() is not None:
            return None
        row = self._lease_row(conn, job_id)
        if row is not None and row.owner != owner and _aware(row.until) > now:
            return LeaseHeld(row.owner, row.stage, _aware(row.until))
        if row is None:
            conn.execute(INSERT_LEASE, {"job_id": job_id, **values})
        else:
            conn.execute(
                UPDATE_LEASE, {"b_job_id": job_id, **{f"b_{k}": v for k, v in values.items()}}
            )
        return None

    def renew(self, job_id: str, owner: str, duration: timedelta) -> bool:
        """Extend ``owner``'s lease; never creates one (a freed lease stays free)."""
        with self._writer.begin() as conn:
            done = conn.execute(
                update(t.leases)
                .where(t.leases.c.job_id == job_id, t.leases.c.owner == owner)
                .values(until=_now() + duration)
            )
        return bool(done.rowcount)

    def release_in(self, conn: Connection, job_id: str, owner: str) -> None:
        conn.execute(DELETE_LEASE, {"job_id": job_id, "owner": owner})

    def output_in(self, conn: Connection, job_id: str, stage: Stage) -> RecordedOutput | None:
        row = conn.execute(SELECT_OUTPUT, {"job_id": job_id, "stage": stage.value}).first()
        return RecordedOutput(row.message, bool(row.forwarded)) if row else None

    def _lease_row(self, conn: Connection, job_id: str, *, lock: bool = True) -> Any:
        query = LOCK_LEASE if self._postgres and lock else SELECT_LEASE
        return conn.execute(query, {"job_id": job_id}).first()

    def lever_in(self, conn: Connection, job_id: str) -> LeaseHeld | None:
        """The lever holding ``job_id`` now (read in the caller's transaction), if any."""
        row = self._lease_row(conn, job_id, lock=False)
        if row is None or row.stage not in LEVER_LEASES or _aware(row.until) <= _now():
            return None
        return LeaseHeld(row.owner, row.stage, _aware(row.until))

    def refuse_if_a_lever_holds(self, conn: Connection, job_id: str) -> None:
        """StateConflict when a lever (a rollback) holds ``job_id``: it is the lever's."""
        held = self.lever_in(conn, job_id)
        if held is not None:
            raise StateConflict(
                f"job {job_id} is held by a {held.stage} in progress",
                hint=f"wait until the {held.stage} has finished and look at the job again",
            )

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
            self.release_in(conn, job_id, owner)
