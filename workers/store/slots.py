"""Call slots per ServiceNow instance: at most ``limit`` calls in flight, across hosts.

Slot rows ``(instance, 0..limit-1)`` are created on first use. Taking one is a write
transaction that picks a free or expired row and writes its owner and expiry: PostgreSQL
locks the row (``FOR UPDATE SKIP LOCKED``, so takers never queue on each other's row);
SQLite holds its one write lock for the transaction. A slot is given back when its call
ends; one whose holder died comes back when ``until`` has passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from workers.store import schema as t
from workers.store.writer import Writer

__all__ = ["Slots"]

_s = t.instance_slots


def _now() -> datetime:
    return datetime.now(UTC)


class Slots:
    def __init__(self, reader: Engine, writer: Writer, *, postgres: bool) -> None:
        self._reader = reader
        self._writer = writer
        self._postgres = postgres
        self._seeded: set[tuple[str, int]] = set()

    def _seed(self, instance: str, limit: int) -> None:
        """Create the instance's slot rows 0..limit-1 (once per process and limit)."""
        if (instance, limit) in self._seeded:
            return
        rows = [{"instance": instance, "slot": n} for n in range(limit)]
        insert = pg_insert(_s) if self._postgres else sqlite_insert(_s)
        with self._writer.begin() as conn:
            conn.execute(insert.on_conflict_do_nothing(), rows)
        self._seeded.add((instance, limit))

    def take(self, instance: str, limit: int, owner: str, hold: timedelta) -> int | None:
        """A free slot of ``instance`` (below ``limit``), now ``owner``'s; None: all taken."""
        self._seed(instance, limit)
        now = _now()
        free = (
            select(_s.c.slot)
            .where(
                _s.c.instance == instance,
                _s.c.slot < limit,
                or_(_s.c.owner.is_(None), _s.c.until <= now),
            )
            .order_by(_s.c.slot)
            .limit(1)
        )
        with self._reader.connect() as conn:  # a read first: waiting costs no write lock
            if conn.execute(free).first() is None:
                return None
        if self._postgres:
            free = free.with_for_update(skip_locked=True)
        with self._writer.begin() as conn:
            slot = conn.execute(free).scalar()
            if slot is None:
                return None
            conn.execute(
                update(_s)
                .where(_s.c.instance == instance, _s.c.slot == slot)
                .values(owner=owner, until=now + hold)
            )
        return int(slot)

    def give_back(self, instance: str, slot: int, owner: str) -> None:
        """Free ``slot`` if ``owner`` still holds it (an expired one may be another's now)."""
        with self._writer.begin() as conn:
            conn.execute(
                update(_s)
                .where(_s.c.instance == instance, _s.c.slot == slot, _s.c.owner == owner)
                .values(owner=None, until=None)
            )

    def renew(self, instance: str, held: list[tuple[int, str]], hold: timedelta) -> None:
        """Extend the holds of ``held`` (slot, owner) that their owners still have."""
        if not held:
            return
        with self._writer.begin() as conn:
            for slot, owner in held:
                conn.execute(
                    update(_s)
                    .where(_s.c.instance == instance, _s.c.slot == slot, _s.c.owner == owner)
                    .values(until=_now() + hold)
                )

    def in_use(self) -> dict[str, int]:
        """Slots held now (unexpired), by instance."""
        held = and_(_s.c.owner.is_not(None), _s.c.until > _now())
        query = select(_s.c.instance, func.count()).where(held).group_by(_s.c.instance)
        with self._reader.connect() as conn:
            return {row[0]: int(row[1]) for row in conn.execute(query)}
