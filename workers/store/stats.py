"""What the metrics read from the store at scrape time: waits for CAs, client certificates.

Computed from the history rather than counted in some process, so that every process
(gateway, CLI, poller) that resumes a job is seen, and a restart loses nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from messages import JobState
from workers.store import schema as t
from workers.store.artifacts import Artifact

__all__ = ["WAIT_ENDS", "CaWait", "CertificateRow", "Stats"]

# A wait for the CA starts with ``waiting_for_ca`` and ends with one of these.
WAIT_ENDS = {"ca_resumed": "resumed", "ca_rejected": "rejected", "ca_wait_expired": "expired"}


@dataclass(frozen=True)
class CaWait:
    job_id: str
    seconds: float
    outcome: str | None  # None: still waiting


@dataclass(frozen=True)
class CertificateRow:
    job_id: str
    instance: str
    target: str
    der: bytes


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Stats:
    def __init__(self, reader: Engine) -> None:
        self._reader = reader

    def ca_waits(self, now: datetime | None = None) -> list[CaWait]:
        """Every wait for a CA, finished (with how it ended) or still open (until now)."""
        now = now or datetime.now(UTC)
        kinds = ["waiting_for_ca", *WAIT_ENDS]
        query = (
            select(t.events.c.job_id, t.events.c.kind, t.events.c.at)
            .where(t.events.c.kind.in_(kinds))
            .order_by(t.events.c.job_id, t.events.c.seq)
        )
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        waits: list[CaWait] = []
        started: dict[str, datetime] = {}
        for job_id, kind, at in rows:
            if kind == "waiting_for_ca":
                started[job_id] = _aware(at)
            elif job_id in started:
                seconds = (_aware(at) - started.pop(job_id)).total_seconds()
                waits.append(CaWait(job_id, seconds, WAIT_ENDS[kind]))
        waits += [CaWait(j, (now - at).total_seconds(), None) for j, at in started.items()]
        return waits

    def ca_wait_events(self, after_id: int) -> tuple[list[tuple[str, str, datetime]], int]:
        """The wait events after event ``after_id`` (``job_id, kind, at``, in order), and
        the last event id read: all of them by the kind index the first time (0), then
        only the events appended since, by the primary key."""
        e = t.events
        kinds = ["waiting_for_ca", *WAIT_ENDS]
        with self._reader.connect() as conn:
            last = int(conn.execute(select(func.max(e.c.id))).scalar() or 0)
            query = select(e.c.job_id, e.c.kind, e.c.at).where(e.c.id > after_id, e.c.id <= last)
            order = (e.c.id,) if after_id else (e.c.job_id, e.c.seq)
            query = query.order_by(*order)
            rows = conn.execute(query.where(e.c.kind.in_(kinds))).all()
        return [(r.job_id, r.kind, _aware(r.at)) for r in rows], last

    def client_certificates(
        self, states: Collection[JobState] = (JobState.SUCCEEDED,)
    ) -> list[CertificateRow]:
        """The client certificate (DER) of each job in ``states``."""
        a, j = t.artifacts, t.jobs
        query = (
            select(j.c.id, j.c.instance, j.c.target, a.c.data)
            .join(a, a.c.job_id == j.c.id)
            .where(a.c.name == Artifact.CLIENT_CERT_DER, j.c.state.in_([s.value for s in states]))
        )
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        return [CertificateRow(r.id, r.instance, r.target, bytes(r.data)) for r in rows]
