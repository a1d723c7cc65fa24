"""The history as an outbox: what the events relay has published, and what comes next.

Every event is a row of ``twoway_events`` with a global id; ids commit in order (see
``Store._add_event``), so a cursor over ids (``twoway_relay.last_event_id``) says exactly
what has been published. Several relays may run: one at a time holds the lease, and a
relay only claims the lease from the cursor it read, so two never publish one batch
unless a lease ran out under a stalled relay (then an event may go out twice: delivery
is at least once, and consumers dedupe by ``job_id`` and ``seq``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, insert, select, update
from sqlalchemy.orm import aliased

from messages import JobEvent, JobState, Stage
from workers.store import schema as t
from workers.store.writer import Writer

__all__ = ["Outbox", "OutboxEvent", "RelayCursor"]


@dataclass(frozen=True)
class OutboxEvent:
    """One event to publish, with the state its job was in before it (None: the first)."""

    id: int
    event: JobEvent
    previous_state: JobState | None

    @property
    def state_changed(self) -> bool:
        return self.previous_state != self.event.state


@dataclass(frozen=True)
class RelayCursor:
    last_event_id: int
    owner: str | None
    lease_until: datetime | None

    def held_by_other(self, owner: str, now: datetime) -> bool:
        return (
            self.owner is not None
            and self.owner != owner
            and self.lease_until is not None
            and self.lease_until > now
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Outbox:
    def __init__(self, reader: Engine, writer: Writer, *, postgres: bool) -> None:
        self._reader = reader
        self._writer = writer
        self._postgres = postgres

    def cursor(self, name: str = "events") -> RelayCursor:
        query = select(t.relay).where(t.relay.c.name == name)
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return RelayCursor(0, None, None)
        return RelayCursor(int(row.last_event_id), row.owner, _aware(row.lease_until))

    def pending(self, after_id: int, limit: int = 200) -> list[OutboxEvent]:
        """Events after ``after_id`` in id order, each with its job's previous state."""
        e, p = t.events, aliased(t.events)
        query = (
            select(e, p.c.state.label("previous_state"))
            .outerjoin(p, and_(p.c.job_id == e.c.job_id, p.c.seq == e.c.seq - 1))
            .where(e.c.id > after_id)
            .order_by(e.c.id)
            .limit(limit)
        )
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        return [
            OutboxEvent(
                id=int(row.id),
                event=JobEvent(
                    job_id=row.job_id,
                    seq=row.seq,
                    at=_aware(row.at) or _now(),
                    kind=row.kind,
                    state=JobState(row.state),
                    stage=Stage(row.stage) if row.stage else None,
                    detail=json.loads(row.detail),
                ),
                previous_state=JobState(row.previous_state) if row.previous_state else None,
            )
            for row in rows
        ]

    def claim(self, owner: str, *, at: int, lease: timedelta, name: str = "events") -> bool:
        """Take the lease if it is free, expired or ours, and the cursor is still ``at``."""
        now = _now()
        with self._writer.begin() as conn:
            query = select(t.relay).where(t.relay.c.name == name)
            if self._postgres:
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                conn.execute(
                    insert(t.relay).values(
                        name=name,
                        last_event_id=at,
                        owner=owner,
                        lease_until=now + lease,
                        updated_at=now,
                    )
                )
                return True
            current = RelayCursor(int(row.last_event_id), row.owner, _aware(row.lease_until))
            if current.held_by_other(owner, now) or current.last_event_id != at:
                return False
            conn.execute(
                update(t.relay)
                .where(t.relay.c.name == name)
                .values(owner=owner, lease_until=now + lease, updated_at=now)
            )
        return True

    def advance(
        self, owner: str, *, to: int, lease: timedelta | None = None, name: str = "events"
    ) -> bool:
        """Move the cursor to ``to`` (and renew or end the lease); False if not ours."""
        now = _now()
        values: dict[str, object] = {"last_event_id": to, "updated_at": now}
        values["lease_until"] = now + lease if lease is not None else None
        if lease is None:
            values["owner"] = None
        with self._writer.begin() as conn:
            result = conn.execute(
                update(t.relay)
                .where(t.relay.c.name == name, t.relay.c.owner == owner)
                .values(**values)
            )
        return result.rowcount == 1

    def release(self, owner: str, *, name: str = "events") -> None:
        """Give the lease up (a relay that stops), so another need not wait it out."""
        with self._writer.begin() as conn:
            conn.execute(
                update(t.relay)
                .where(t.relay.c.name == name, t.relay.c.owner == owner)
                .values(owner=None, lease_until=None, updated_at=_now())
            )
