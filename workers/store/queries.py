"""Reading jobs: one, a page, their renewals, counts by state, histories.

A job's request never changes after it is stored, so each process keeps the parsed
requests of recent jobs instead of validating the same JSON on every read.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select, text

from messages import JobEvent, JobRequest, JobState, Stage
from workers.errors import IdempotencyConflict, JobNotFound
from workers.store import schema as t
from workers.store.records import JobRecord
from workers.store.statements import SELECT_JOB

__all__ = ["JobQueries"]

_CACHED_REQUESTS = 4096
ESTIMATE_FROM = 50_000  # jobs: from here on, counts by state are the planner's estimates
_ESTIMATE = text(
    "SELECT c.reltuples::bigint AS total, s.most_common_vals::text AS states,"
    " s.most_common_freqs AS freqs FROM pg_class c"
    " LEFT JOIN pg_stats s ON s.schemaname = current_schema()"
    " AND s.tablename = 'twoway_jobs' AND s.attname = 'state'"
    " WHERE c.oid = to_regclass('twoway_jobs')"
)


def _pg_array(text_value: str) -> list[str]:
    """``{a,b,"c d"}`` (an anyarray as text) as a list; states hold no commas or quotes."""
    return [item.strip('"') for item in text_value.strip("{}").split(",") if item]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class JobQueries:
    """The read side of the store (mixed into :class:`Store`)."""

    _reader: Engine

    def _init_queries(self) -> None:
        self._requests: OrderedDict[str, JobRequest] = OrderedDict()
        self._requests_lock = threading.Lock()

    def _request(self, job_id: str, text: str) -> JobRequest:
        with self._requests_lock:
            cached = self._requests.get(job_id)
            if cached is not None:
                self._requests.move_to_end(job_id)
                return cached
        request = JobRequest.model_validate_json(text)
        with self._requests_lock:
            self._requests[job_id] = request
            while len(self._requests) > _CACHED_REQUESTS:
                self._requests.popitem(last=False)
        return request

    def _record(self, row: Any) -> JobRecord:
        """A record from a row (or a mapping of its columns)."""
        values: Mapping[str, Any] = row if isinstance(row, Mapping) else row._mapping
        return JobRecord(
            id=values["id"],
            state=JobState(values["state"]),
            stage=Stage(values["stage"]) if values["stage"] else None,
            request=self._request(values["id"], values["request"]),
            created_at=_aware(values["created_at"]),
            updated_at=_aware(values["updated_at"]),
            attempts=json.loads(values["attempts"] or "{}"),
            error=json.loads(values["error"]) if values["error"] else None,
            ca_request_id=values["ca_request_id"],
            version=values["version"],
            renews=values["renews"],
        )

    def _by_idempotency_key(self, key: str, digest: str) -> JobRecord | None:
        with self._reader.connect() as conn:
            row = conn.execute(select(t.jobs).where(t.jobs.c.idempotency_key == key)).first()
        if row is None:
            return None
        if row.request_sha256 != digest:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} was used for job {row.id} with a different request",
                hint="send the same body with that key, or use a new key for a new job",
            )
        return self._record(row)

    def get_job(self, job_id: str) -> JobRecord:
        with self._reader.connect() as conn:
            row = conn.execute(SELECT_JOB, {"job_id": job_id}).first()
        if row is None:
            raise JobNotFound(f"no job {job_id}", hint="check the id: 'twoway jobs' lists them")
        return self._record(row)

    def list_jobs(
        self,
        *,
        states: Collection[JobState] = (),
        stage: Stage | None = None,
        instance: str | None = None,
        target: str | None = None,
        updated_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        after: tuple[datetime, str] | None = None,
    ) -> list[JobRecord]:
        """Newest first; ``after`` = (created_at, id) of the last job of the previous page."""
        query = select(t.jobs).order_by(t.jobs.c.created_at.desc(), t.jobs.c.id)
        if after is not None:
            created, job_id = after
            # This form (not "< c OR (= c AND id >)") lets the index's range start at c.
            query = query.where(
                t.jobs.c.created_at <= created,
                or_(t.jobs.c.created_at < created, t.jobs.c.id > job_id),
            )
        if updated_before is not None:
            query = query.where(t.jobs.c.updated_at < updated_before)
        if states:
            query = query.where(t.jobs.c.state.in_([s.value for s in states]))
        if stage:
            query = query.where(t.jobs.c.stage == stage.value)
        if instance:
            query = query.where(t.jobs.c.instance == instance)
        if target:
            query = query.where(t.jobs.c.target == target)
        with self._reader.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [self._record(row) for row in rows]

    def list_waiting(
        self,
        states: Collection[JobState],
        *,
        updated_before: datetime | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[JobRecord]:
        """Jobs in ``states``, the longest waiting first (``updated_at``: when the wait
        began); ``after`` = (updated_at, id) of the last job of the previous page."""
        j = t.jobs
        found: list[Any] = []
        with self._reader.connect() as conn:
            for state in states:  # one range of the (state, updated_at, id) index each
                query = select(j).where(j.c.state == state.value)
                if updated_before is not None:
                    query = query.where(j.c.updated_at < updated_before)
                if after is not None:
                    since, job_id = after
                    query = query.where(
                        j.c.updated_at >= since, or_(j.c.updated_at > since, j.c.id > job_id)
                    )
                query = query.order_by(j.c.updated_at, j.c.id).limit(limit)
                found += conn.execute(query).all()
        found.sort(key=lambda row: (_aware(row.updated_at), row.id))
        return [self._record(row) for row in found[:limit]]

    def renewals_of(self, job_id: str) -> list[JobRecord]:
        """The jobs that renew ``job_id``, oldest first."""
        query = select(t.jobs).where(t.jobs.c.renews == job_id).order_by(t.jobs.c.created_at)
        with self._reader.connect() as conn:
            return [self._record(row) for row in conn.execute(query).all()]

    def renewals_of_many(self, job_ids: Collection[str]) -> dict[str, list[JobRecord]]:
        """The jobs that renew each of ``job_ids``, oldest first, in one query."""
        if not job_ids:
            return {}
        query = (
            select(t.jobs).where(t.jobs.c.renews.in_(list(job_ids))).order_by(t.jobs.c.created_at)
        )
        found: dict[str, list[JobRecord]] = {}
        with self._reader.connect() as conn:
            for row in conn.execute(query).all():
                found.setdefault(row.renews, []).append(self._record(row))
        return found

    def ping(self) -> None:
        """One round trip to the database (``SELECT 1``): raises when it cannot be reached."""
        with self._reader.connect() as conn:
            conn.execute(text("SELECT 1"))

    def count_jobs_cheaply(self) -> tuple[dict[str, int], bool]:
        """Jobs by state, and whether the counts are estimates: on PostgreSQL, past
        ``ESTIMATE_FROM`` jobs, the planner's statistics (kept by autovacuum's ANALYZE)
        give them without reading the table; below it, or without statistics, they are
        counted."""
        if self._reader.dialect.name == "postgresql":
            estimated = self._estimate_counts()
            if estimated is not None:
                return estimated, True
        return self.count_jobs(), False

    def _estimate_counts(self) -> dict[str, int] | None:
        with self._reader.connect() as conn:
            rows = conn.execute(_ESTIMATE).first()
        if rows is None or rows.total is None or rows.total < ESTIMATE_FROM or not rows.states:
            return None
        states = _pg_array(rows.states)
        return {s: round(f * rows.total) for s, f in zip(states, rows.freqs, strict=False)}

    def count_jobs(self) -> dict[str, int]:
        query = select(t.jobs.c.state, func.count()).group_by(t.jobs.c.state)
        with self._reader.connect() as conn:
            return {state: int(n) for state, n in conn.execute(query).all()}

    def history(self, job_id: str) -> list[JobEvent]:
        query = select(t.events).where(t.events.c.job_id == job_id).order_by(t.events.c.seq)
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        return [
            JobEvent(
                job_id=row.job_id,
                seq=row.seq,
                at=_aware(row.at),
                kind=row.kind,
                state=JobState(row.state),
                stage=Stage(row.stage) if row.stage else None,
                detail=json.loads(row.detail),
            )
            for row in rows
        ]
