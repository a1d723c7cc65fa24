"""The store: jobs, their append-only histories, their artifacts and stage outputs.

State lives here, never in the broker. Every change of a job's state or stage is a
compare-and-set on its row plus one event, in one transaction. Secret artifacts (the
private key, the keystore and its password) are sealed before they are written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from messages import JobEvent, JobRequest, JobState, Stage

from ..errors import IdempotencyConflict, JobNotFound, StateConflict
from ..sealing import Sealer
from . import schema as t
from .artifacts import Artifacts
from .engine import make_engines
from .migrate import upgrade as upgrade_schema
from .outbox import Outbox
from .progress import Progress, put_output
from .records import JobRecord
from .signatures import CallbackSignatures
from .stats import Stats
from .tokens import Tokens

__all__ = ["EventListener", "Store"]

EventListener = Callable[[JobEvent], None]
# PostgreSQL hands out event ids when rows are inserted, not when they commit; a reader
# could see id 11 committed while id 10 is still in flight, and pass it for good. Events
# are therefore inserted under one transaction-level lock, taken last in each write (so
# that it cannot deadlock) and held only for the commit: ids commit in order, and the
# events relay (a cursor over ids) never skips one. SQLite serialises all writes anyway.
_EVENT_ORDER = 7302672
_log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def request_sha256(request: JobRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()


class Store:
    """Jobs and everything they hold. Thread-safe; one instance per process."""

    def __init__(self, url: str, sealer: Sealer) -> None:
        self.url = url
        self._reader, self._writer = make_engines(url)
        self._listeners: list[EventListener] = []
        self._postgres = self._writer.dialect.name == "postgresql"
        self.artifacts = Artifacts(self._reader, self._writer, sealer)
        self.progress = Progress(self._reader, self._writer, postgres=self._postgres)
        self.outbox = Outbox(self._reader, self._writer, postgres=self._postgres)
        self.stats = Stats(self._reader)
        self.tokens = Tokens(self._reader, self._writer)
        self.signatures = CallbackSignatures(self._writer)
        self._create_schema()

    # -- plumbing -----------------------------------------------------------------------

    def _create_schema(self) -> None:
        """Migrate to the newest revision (Alembic, under a lock: see migrate.py)."""
        self.revision = upgrade_schema(self._writer)

    def close(self) -> None:
        self._reader.dispose()
        self._writer.dispose()

    def add_listener(self, listener: EventListener) -> None:
        """Called with every event after its transaction commits (metrics, publishing)."""
        self._listeners.append(listener)

    def _notify(self, emitted: list[JobEvent]) -> None:
        for event in emitted:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:  # noqa: BLE001 - a listener must never break a state change
                    _log.exception("event listener failed for %s", event.kind)

    @contextmanager
    def _write(self) -> Iterator[tuple[Connection, list[JobEvent]]]:
        emitted: list[JobEvent] = []
        with self._writer.begin() as conn:
            yield conn, emitted
        self._notify(emitted)

    def _lock_job(self, conn: Connection, job_id: str) -> Row[Any]:
        query = select(t.jobs).where(t.jobs.c.id == job_id)
        if self._postgres:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        return row

    def _add_event(
        self,
        conn: Connection,
        job_id: str,
        kind: str,
        state: JobState,
        stage: Stage | None,
        detail: Mapping[str, Any],
    ) -> JobEvent:
        seq = conn.execute(
            select(func.coalesce(func.max(t.events.c.seq), 0)).where(t.events.c.job_id == job_id)
        ).scalar_one()
        event = JobEvent(
            job_id=job_id,
            seq=int(seq) + 1,
            at=_now(),
            kind=kind,
            state=state,
            stage=stage,
            detail=dict(detail),
        )
        if self._postgres:  # see _EVENT_ORDER
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENT_ORDER})
        conn.execute(
            insert(t.events).values(
                job_id=job_id,
                seq=event.seq,
                at=event.at,
                kind=kind,
                state=state.value,
                stage=stage.value if stage else None,
                detail=json.dumps(event.detail, default=str),
            )
        )
        return event

    # -- jobs -----------------------------------------------------------------------------

    def create_job(
        self,
        request: JobRequest,
        *,
        idempotency_key: str | None = None,
        renews: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """A new job in state ``accepted``; with a known key, the job it made before.

        ``renews`` names the job whose certificate this one replaces.
        """
        digest = request_sha256(request)
        if idempotency_key:
            existing = self._by_idempotency_key(idempotency_key, digest)
            if existing is not None:
                return existing, False
        job_id = uuid.uuid4().hex
        now = _now()
        try:
            with self._write() as (conn, emitted):
                conn.execute(
                    insert(t.jobs).values(
                        id=job_id,
                        created_at=now,
                        updated_at=now,
                        state=JobState.ACCEPTED.value,
                        stage=None,
                        instance=request.instance,
                        target=request.target.name,
                        request=request.model_dump_json(),
                        attempts="{}",
                        idempotency_key=idempotency_key,
                        request_sha256=digest,
                        version=1,
                        renews=renews,
                    )
                )
                detail = {"instance": request.instance, "target": request.target.name}
                if renews:
                    detail["renews"] = renews
                emitted.append(
                    self._add_event(conn, job_id, "job_accepted", JobState.ACCEPTED, None, detail)
                )
        except IntegrityError:
            if not idempotency_key:
                raise
            existing = self._by_idempotency_key(idempotency_key, digest)
            if existing is None:
                raise
            return existing, False
        return self.get_job(job_id), True

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
            row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(f"no job {job_id}", hint="check the id: 'twoway jobs' lists them")
        return self._record(row)

    def list_jobs(
        self,
        *,
        states: Collection[JobState] = (),
        stage: Stage | None = None,
        instance: str | None = None,
        updated_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        after: tuple[datetime, str] | None = None,
    ) -> list[JobRecord]:
        """Newest first; ``after`` = (created_at, id) of the last job of the previous page."""
        query = select(t.jobs).order_by(t.jobs.c.created_at.desc(), t.jobs.c.id)
        if after is not None:
            created, job_id = after
            query = query.where(
                (t.jobs.c.created_at < created)
                | ((t.jobs.c.created_at == created) & (t.jobs.c.id > job_id))
            )
        if updated_before is not None:
            query = query.where(t.jobs.c.updated_at < updated_before)
        if states:
            query = query.where(t.jobs.c.state.in_([s.value for s in states]))
        if stage:
            query = query.where(t.jobs.c.stage == stage.value)
        if instance:
            query = query.where(t.jobs.c.instance == instance)
        with self._reader.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [self._record(row) for row in rows]

    def renewals_of(self, job_id: str) -> list[JobRecord]:
        """The jobs that renew ``job_id``, oldest first."""
        query = select(t.jobs).where(t.jobs.c.renews == job_id).order_by(t.jobs.c.created_at)
        with self._reader.connect() as conn:
            return [self._record(row) for row in conn.execute(query).all()]

    def count_jobs(self) -> dict[str, int]:
        query = select(t.jobs.c.state, func.count()).group_by(t.jobs.c.state)
        with self._reader.connect() as conn:
            return {state: int(n) for state, n in conn.execute(query).all()}

    def _record(self, row: Row[Any]) -> JobRecord:
        return JobRecord(
            id=row.id,
            state=JobState(row.state),
            stage=Stage(row.stage) if row.stage else None,
            request=JobRequest.model_validate_json(row.request),
            created_at=_aware(row.created_at),
            updated_at=_aware(row.updated_at),
            attempts=json.loads(row.attempts or "{}"),
            error=json.loads(row.error) if row.error else None,
            ca_request_id=row.ca_request_id,
            version=row.version,
            renews=row.renews,
        )

    def transition(
        self,
        job_id: str,
        *,
        kind: str,
        expect: Collection[JobState] | None = None,
        expect_stage: Collection[Stage | None] | None = None,
        state: JobState | None = None,
        stage: Stage | None = None,
        detail: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
        clear_error: bool = False,
        bump_attempt: bool = False,
        output: tuple[Stage, str] | None = None,
        ca_request_id: str | None = None,
        within: Callable[[Connection], None] | None = None,
    ) -> JobRecord:
        """Compare-and-set a job's state/stage and append one event, atomically.

        Raises StateConflict when the job is not in one of ``expect`` (or ``expect_stage``).
        ``within`` runs in the same transaction, after the compare-and-set succeeded.
        """
        with self._write() as (conn, emitted):
            row = self._lock_job(conn, job_id)
            current = JobState(row.state)
            current_stage = Stage(row.stage) if row.stage else None
            if expect is not None and current not in expect:
                raise StateConflict(
                    f"job {job_id} is {current.value}, expected one of"
                    f" {sorted(s.value for s in expect)}"
                )
            if expect_stage is not None and current_stage not in expect_stage:
                raise StateConflict(f"job {job_id} is at stage {row.stage}")
            new_state = state or current
            new_stage = stage or current_stage
            values: dict[str, Any] = {
                "state": new_state.value,
                "stage": new_stage.value if new_stage else None,
                "updated_at": _now(),
                "version": row.version + 1,
            }
            if bump_attempt and new_stage:
                attempts = json.loads(row.attempts or "{}")
                attempts[new_stage.value] = attempts.get(new_stage.value, 0) + 1
                values["attempts"] = json.dumps(attempts)
            if error is not None:
                values["error"] = json.dumps(dict(error), default=str)
            elif clear_error:
                values["error"] = None
            if ca_request_id is not None:
                values["ca_request_id"] = ca_request_id
            conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(**values))
            if output is not None:
                put_output(conn, job_id, *output)
            if within is not None:
                within(conn)
            emitted.append(self._add_event(conn, job_id, kind, new_state, new_stage, detail or {}))
        return self.get_job(job_id)

    def note(self, job_id: str, kind: str, detail: Mapping[str, Any]) -> JobEvent:
        """Append an event without changing state (a retry, a wait, a rejected callback)."""
        with self._write() as (conn, emitted):
            row = self._lock_job(conn, job_id)
            stage = Stage(row.stage) if row.stage else None
            event = self._add_event(conn, job_id, kind, JobState(row.state), stage, detail)
            emitted.append(event)
        return event

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
