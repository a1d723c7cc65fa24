"""Removing what retention lets go (mixed into :class:`Store`): which jobs may be pruned,
and pruning one, with a ``retention_applied`` event that says what went, in one
transaction. The policy (how long) is the caller's: ``workers.levers.retention``."""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, exists, func, select, update

from messages import JobEvent, JobState
from workers.store import schema as t

__all__ = ["EARLY_STAGES", "Pruning"]

# Stages before the first write to an instance: a job that failed in one left nothing there.
EARLY_STAGES = ("generate", "csr", "wait-for-ca", "import-chain")
c, j, e, a = t.certificates, t.jobs, t.events, t.artifacts


class Pruning:
    _reader: Engine
    _write: Callable[[], AbstractContextManager[tuple[Connection, list[JobEvent]]]]
    _lock_job: Callable[[Connection, str], Row[Any]]
    _add_event: Callable[..., JobEvent]

    def prunable_replaced(self, before: datetime, level: int, limit: int) -> list[str]:
        """Jobs whose certificate was replaced and whose old keystore record was retired
        before ``before`` and deleted from its instance, not yet pruned to ``level``
        (1: artifacts, 2: history too), the longest retired first."""
        query = (
            select(c.c.job_id)
            .where(c.c.keystore_deleted.is_(True), c.c.pruned < level)
            .where(c.c.retired_at.is_not(None), c.c.retired_at <= before)
            .order_by(c.c.retired_at)
            .limit(limit)
        )
        with self._reader.connect() as conn:
            return [row.job_id for row in conn.execute(query).all()]

    def prunable_ended(self, before: datetime, limit: int) -> list[str]:
        """Failed jobs that wrote nothing to an instance, and rolled-back jobs, ended
        before ``before``, that still hold artifacts."""
        held = exists().where(a.c.job_id == j.c.id)
        rolled_back = exists().where(e.c.job_id == j.c.id, e.c.kind == "rolled_back")
        failed_early = (j.c.state == JobState.FAILED.value) & j.c.stage.in_(EARLY_STAGES)
        cancelled = (j.c.state == JobState.CANCELLED.value) & (
            j.c.stage.is_(None) | j.c.stage.in_(EARLY_STAGES) | rolled_back
        )
        query = (
            select(j.c.id)
            .where(j.c.state.in_([JobState.FAILED.value, JobState.CANCELLED.value]))
            .where(j.c.updated_at <= before, held, failed_early | cancelled)
            .order_by(j.c.state, j.c.updated_at, j.c.id)
            .limit(limit)
        )
        with self._reader.connect() as conn:
            return [row.id for row in conn.execute(query).all()]

    def prune(
        self,
        job_id: str,
        *,
        keep: Collection[str] = (),
        history: bool = False,
        level: int | None = None,
    ) -> dict[str, Any] | None:
        """Remove the job's artifacts but ``keep`` (and with ``history``, its events up to
        now, those the events relay has published); record what went in a
        ``retention_applied`` event. None when there was nothing to remove."""
        with self._write() as (conn, emitted):
            row = self._lock_job(conn, job_id)
            removed = self._remove(conn, job_id, keep, history)
            if level is not None:
                mark = update(c).where(c.c.job_id == job_id).values(pruned=level)
                conn.execute(mark)
            if not any(removed.values()):
                return None
            values = dict(row._mapping)
            emitted.append(self._add_event(conn, values, "retention_applied", removed))
            conn.execute(update(j).where(j.c.id == job_id).values(last_seq=values["last_seq"]))
        return removed

    @staticmethod
    def _remove(
        conn: Connection, job_id: str, keep: Collection[str], history: bool
    ) -> dict[str, Any]:
        gone = select(a.c.name, func.length(a.c.data).label("size")).where(a.c.job_id == job_id)
        if keep:
            gone = gone.where(a.c.name.not_in(list(keep)))
        names = conn.execute(gone).all()
        if names:
            wanted = [n.name for n in names]
            conn.execute(delete(a).where(a.c.job_id == job_id, a.c.name.in_(wanted)))
        events = 0
        if history:
            # Where an events relay has run, only what it has published goes.
            r = t.relay
            ran = (r.c.owner.is_not(None)) | (r.c.last_event_id > 0)
            published = conn.execute(select(func.min(r.c.last_event_id)).where(ran)).scalar()
            old = delete(e).where(e.c.job_id == job_id)
            if published is not None:
                old = old.where(e.c.id <= published)
            events = conn.execute(old).rowcount
        return {
            "artifacts": sorted(n.name for n in names),
            "bytes": int(sum(n.size or 0 for n in names)),
            "events": int(events or 0),
        }
