"""The revocation and notification outboxes: rows to work, each until done or given up.

Both are filled from the history by a follower (a cursor in ``twoway_relay``) and worked
by a lever: a row is inserted once (its key makes a second insert a no-op), taken when
``next_at`` has come, and moved on with the outcome of one attempt. Only the lease of the
lever that works them (``Progress.acquire``) keeps two workers off one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from workers.store import schema as t
from workers.store.writer import Writer

__all__ = ["Backoff", "Notifications", "OutboxRow", "OutboxRows", "Revocations"]


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Backoff:
    """Doubling waits from ``first_s`` up to ``most_s``; ``tries`` attempts in all."""

    first_s: float
    most_s: float
    tries: int

    def after(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.most_s, self.first_s * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class OutboxRow:
    key: dict[str, Any]  # the row's primary key
    values: dict[str, Any]

    @property
    def attempts(self) -> int:
        return int(self.values["attempts"])


class OutboxRows:
    table: Table
    STATES: tuple[str, ...] = ()

    def __init__(self, reader: Engine, writer: Writer) -> None:
        self._reader = reader
        self._writer = writer

    def add(self, **values: Any) -> bool:
        """Insert a pending row; False when it is there already (a follower ran twice)."""
        now = _now()
        row = {"state": "pending", "attempts": 0, "next_at": now, "created_at": now, **values}
        try:
            with self._writer.begin() as conn:
                conn.execute(insert(self.table).values(**row))
        except IntegrityError:
            return False
        return True

    def due(self, now: datetime | None = None, limit: int = 100) -> list[OutboxRow]:
        c = self.table.c
        query = (
            select(self.table)
            .where(c.state == "pending", c.next_at <= (now or _now()))
            .order_by(c.next_at)
            .limit(limit)
        )
        return self._rows(query)

    def all(self, state: str | None = None) -> list[OutboxRow]:
        query = select(self.table)
        if state is not None:
            query = query.where(self.table.c.state == state)
        return self._rows(query)

    def newest(
        self, *, state: str | None = None, job_id: str | None = None, limit: int = 100
    ) -> list[OutboxRow]:
        """What an operator looks at: the newest rows first, of one state or job if asked."""
        query = select(self.table)
        if state is not None:
            query = query.where(self.table.c.state == state)
        if job_id is not None:
            query = query.where(self.table.c.job_id == job_id)
        return self._rows(query.order_by(*self.newest_first).limit(limit))

    def counts(self) -> dict[str, int]:
        """How many rows are in each state."""
        c = self.table.c
        with self._reader.connect() as conn:
            rows = conn.execute(select(c.state, func.count()).group_by(c.state)).all()
        return {state: int(n) for state, n in rows}

    @property
    def newest_first(self) -> tuple[Any, ...]:
        return (self.table.c.created_at.desc(),)

    def _rows(self, query: Any) -> list[OutboxRow]:
        keys = [column.name for column in self.table.primary_key]
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            values = {
                name: _aware(value) if isinstance(value, datetime) else value
                for name, value in row._mapping.items()
            }
            out.append(OutboxRow({k: values[k] for k in keys}, values))
        return out

    def settle(self, row: OutboxRow, state: str, *, error: str | None = None) -> None:
        """One attempt ended in ``state`` (done, sent, asked, failed, dead)."""
        self._set(row, state=state, attempts=row.attempts + 1, last_error=error)

    def retry(self, row: OutboxRow, backoff: Backoff, error: str) -> datetime:
        """One attempt failed and another will be made; when."""
        attempts = row.attempts + 1
        at = _now() + backoff.after(attempts)
        self._set(row, attempts=attempts, next_at=at, last_error=error)
        return at

    def _set(self, row: OutboxRow, **values: Any) -> None:
        c = self.table.c
        where = [c[name] == value for name, value in row.key.items()]
        with self._writer.begin() as conn:
            conn.execute(update(self.table).where(*where).values(**values, **self._stamp()))

    def _stamp(self) -> dict[str, Any]:
        return {}


class Revocations(OutboxRows):
    """One row per certificate to revoke, keyed by the job that holds it."""

    table = t.revocations
    STATES = ("pending", "done", "asked", "failed")

    def _stamp(self) -> dict[str, Any]:
        return {"updated_at": _now()}

    def add(self, **values: Any) -> bool:
        return super().add(updated_at=_now(), **values)

    def of(self, job_id: str) -> OutboxRow | None:
        rows = self._rows(select(self.table).where(self.table.c.job_id == job_id))
        return rows[0] if rows else None


class Notifications(OutboxRows):
    """One row per event and channel."""

    table = t.notifications
    STATES = ("pending", "sent", "dead")

    @property
    def newest_first(self) -> tuple[Any, ...]:
        return (self.table.c.event_id.desc(), self.table.c.channel)  # the primary key's order

    def settle(self, row: OutboxRow, state: str, *, error: str | None = None) -> None:
        extra = {"sent_at": _now()} if state == "sent" else {}
        self._set(row, state=state, attempts=row.attempts + 1, last_error=error, **extra)
