"""Bulk migrations' rows (``twoway_migrations``): which certificate is in which wave of
which batch, and whether its renewal was started. levers/migrate.py decides; this keeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from workers.store import schema as t
from workers.store.writer import Writer

__all__ = ["MigrationRow", "MigrationRows"]


@dataclass(frozen=True)
class MigrationRow:
    batch: str
    job_id: str  # the certificate's job
    instance: str
    target: str
    ca: str
    wave: int
    state: str  # queued | started | skipped | withdrawn
    renewal: str | None
    note: str | None
    actor: str
    reason: str
    created_at: datetime
    started_at: datetime | None


def _row(values: Any) -> MigrationRow:
    found = dict(values._mapping)
    for name in ("created_at", "started_at"):
        moment = found[name]
        if isinstance(moment, datetime) and moment.tzinfo is None:
            found[name] = moment.replace(tzinfo=UTC)
    return MigrationRow(**found)


class MigrationRows:
    def __init__(self, reader: Engine, writer: Writer) -> None:
        self._reader = reader
        self._writer = writer

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """A new batch's rows, all at once (a batch id is new: never a conflict)."""
        if not rows:
            return
        now = datetime.now(UTC)
        with self._writer.begin() as conn:
            conn.execute(
                insert(t.migrations),
                [{"created_at": now, "renewal": None, "note": None, **r} for r in rows],
            )

    def of(self, batch: str) -> list[MigrationRow]:
        c = t.migrations.c
        query = select(t.migrations).where(c.batch == batch).order_by(c.wave, c.target, c.job_id)
        with self._reader.connect() as conn:
            return [_row(r) for r in conn.execute(query).all()]

    def with_queued(self) -> list[str]:
        """The batches that still have a wave to start (indexed on state)."""
        c = t.migrations.c
        query = select(c.batch).where(c.state == "queued").distinct()
        with self._reader.connect() as conn:
            return [str(r[0]) for r in conn.execute(query).all()]

    def mark(
        self,
        batch: str,
        job_id: str,
        state: str,
        *,
        renewal: str | None = None,
        note: str | None = None,
    ) -> bool:
        """Move one queued row on; False when another round moved it first."""
        c = t.migrations.c
        values: dict[str, Any] = {"state": state, "note": note}
        if renewal is not None:
            values.update(renewal=renewal, started_at=datetime.now(UTC))
        query = (
            update(t.migrations)
            .where(c.batch == batch, c.job_id == job_id, c.state == "queued")
            .values(**values)
        )
        with self._writer.begin() as conn:
            return conn.execute(query).rowcount == 1

    def withdraw(self, batch: str, note: str) -> int:
        """Every queued row of ``batch`` withdrawn; how many."""
        c = t.migrations.c
        query = (
            update(t.migrations)
            .where(c.batch == batch, c.state == "queued")
            .values(state="withdrawn", note=note)
        )
        with self._writer.begin() as conn:
            return int(conn.execute(query).rowcount)
