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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, text
from sqlalchemy.exc import IntegrityError

from messages import JobEvent, JobRequest, JobState, Stage
from workers.errors import JobNotFound, StateConflict
from workers.sealing import Sealer
from workers.store import schema as t
from workers.store.acme import AcmeRecords
from workers.store.artifacts import Artifacts
from workers.store.batches import MigrationRows
from workers.store.begin import StageStarts
from workers.store.certificates import Certificates
from workers.store.engine import make_engines
from workers.store.lifecycle import Notifications, Revocations
from workers.store.migrate import upgrade as upgrade_schema
from workers.store.outbox import Outbox
from workers.store.progress import Progress, put_output
from workers.store.pruning import Pruning
from workers.store.queries import JobQueries
from workers.store.records import JobRecord
from workers.store.signatures import CallbackSignatures
from workers.store.slots import Slots
from workers.store.statements import BUMP_SEQ, INSERT_EVENT, LOCK_JOB, SELECT_JOB, UPDATE_JOB
from workers.store.stats import Stats
from workers.store.tokens import Tokens
from workers.store.writer import Writer

__all__ = ["EventListener", "Note", "Store"]

EventListener = Callable[[JobEvent], None]
Note = tuple[str, Mapping[str, Any]]  # an event's kind and detail, to append as it stands
# PostgreSQL hands out event ids when rows are inserted, not when they commit; a reader
# could see id 11 committed while id 10 is still in flight, and pass it for good. Events
# are therefore inserted under one transaction-level lock: ids commit in order, and the
# events relay (a cursor over ids) never skips one. A write collects its events and
# inserts them last (``_write``), so the lock is taken after every other lock of the
# write (it cannot deadlock) and held only for those inserts and the commit: writers of
# different jobs run in parallel up to there. SQLite serialises all writes anyway.
_EVENT_ORDER = 7302672
_PENDING_EVENTS = "twoway_pending_events"  # Connection.info key: the write's events
_log = logging.getLogger(__name__)
_MUTABLE = (
    "id",
    "state",
    "stage",
    "updated_at",
    "version",
    "attempts",
    "error",
    "ca_request_id",
    "last_seq",
)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def request_sha256(request: JobRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()


class Store(JobQueries, StageStarts, Pruning):
    """Jobs and everything they hold. Thread-safe; one instance per process."""

    def __init__(self, url: str, sealer: Sealer) -> None:
        self.url = url
        self._init_queries()
        self._reader, writer = make_engines(url)
        self._writer = Writer(writer)
        self._listeners: list[EventListener] = []
        self._postgres = self._writer.dialect.name == "postgresql"
        self.artifacts = Artifacts(self._reader, self._writer, sealer)
        self.progress = Progress(self._reader, self._writer, postgres=self._postgres)
        self.outbox = Outbox(self._reader, self._writer, postgres=self._postgres)
        self.stats = Stats(self._reader)
        self.tokens = Tokens(self._reader, self._writer)
        self.signatures = CallbackSignatures(self._reader, self._writer)
        self.acme = AcmeRecords(self._reader, self._writer, sealer)
        self.slots = Slots(self._reader, self._writer, postgres=self._postgres)
        self.revocations = Revocations(self._reader, self._writer)
        self.notifications = Notifications(self._reader, self._writer)
        self.migrations = MigrationRows(self._reader, self._writer)
        self.certificates = Certificates(self._reader, self._writer)
        self._create_schema()

    # -- plumbing -----------------------------------------------------------------------

    def _create_schema(self) -> None:
        """Migrate to the newest revision (Alembic, under a lock: see migrate.py)."""
        self.revision = upgrade_schema(self._writer.engine)

    def close(self) -> None:
        self._reader.dispose()
        self._writer.dispose()

    def observe_write_waits(self, observer: Callable[[float], None]) -> None:
        """Called with the seconds each write transaction waited to begin (writer.py)."""
        self._writer.on_wait = observer

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
        """A write transaction; the events ``_add_event`` collected are inserted at its end
        (see ``_EVENT_ORDER``), and listeners hear of them once it has committed."""
        emitted: list[JobEvent] = []
        with self._writer.begin() as conn:
            pending: list[dict[str, Any]] = []
            conn.info[_PENDING_EVENTS] = pending
            try:
                yield conn, emitted
                self._insert_events(conn, pending)
            finally:
                del conn.info[_PENDING_EVENTS]
        self._notify(emitted)

    def _insert_events(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENT_ORDER})
        for row in rows:  # one at a time: ids in the order the write added them
            conn.execute(INSERT_EVENT, row)
        self.certificates.on_events(conn, rows)

    def _lock_job(self, conn: Connection, job_id: str) -> Row[Any]:
        row = conn.execute(LOCK_JOB if self._postgres else SELECT_JOB, {"job_id": job_id}).first()
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        return row

    def _update_job(self, conn: Connection, row: Row[Any], **changes: Any) -> dict[str, Any]:
        """Write the job's row as read under the lock, with ``changes``; the new values."""
        values = {**row._mapping, "updated_at": _now(), "version": row.version + 1, **changes}
        conn.execute(UPDATE_JOB, {f"b_{key}": values[key] for key in _MUTABLE})
        return values

    def _add_event(
        self,
        conn: Connection,
        values: dict[str, Any],
        kind: str,
        detail: Mapping[str, Any],
    ) -> JobEvent:
        """Append the job's next event (``values``: its row, ``last_seq`` moved on by one).

        The caller writes ``values`` back (``_update_job``), which records the new number.
        The row is inserted when the write ends (``_write``).
        """
        values["last_seq"] = int(values["last_seq"]) + 1
        stage = Stage(values["stage"]) if values["stage"] else None
        event = JobEvent(
            job_id=values["id"],
            seq=values["last_seq"],
            at=_now(),
            kind=kind,
            state=JobState(values["state"]),
            stage=stage,
            detail=dict(detail),
        )
        conn.info[_PENDING_EVENTS].append(
            {
                "job_id": event.job_id,
                "seq": event.seq,
                "at": event.at,
                "kind": kind,
                "state": event.state.value,
                "stage": stage.value if stage else None,
                "detail": json.dumps(event.detail, default=str),
            }
        )
        return event

    # -- jobs -----------------------------------------------------------------------------

    def job_for_key(self, idempotency_key: str, request: JobRequest) -> JobRecord | None:
        """The job made before under ``idempotency_key`` (IdempotencyConflict if it was made
        from another request), or None."""
        return self._by_idempotency_key(idempotency_key, request_sha256(request))

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
                values: dict[str, Any] = {
                    "id": job_id,
                    "created_at": now,
                    "updated_at": now,
                    "state": JobState.ACCEPTED.value,
                    "stage": None,
                    "instance": request.instance,
                    "target": request.target.name,
                    "request": request.model_dump_json(),
                    "attempts": "{}",
                    "idempotency_key": idempotency_key,
                    "request_sha256": digest,
                    "version": 1,
                    "renews": renews,
                    "last_seq": 0,
                }
                detail = {"instance": request.instance, "target": request.target.name}
                if renews:
                    detail["renews"] = renews
                event = self._add_event(conn, values, "job_accepted", detail)
                conn.execute(insert(t.jobs).values(**values))
                emitted.append(event)
        except IntegrityError:
            if not idempotency_key:
                raise
            existing = self._by_idempotency_key(idempotency_key, digest)
            if existing is None:
                raise
            return existing, False
        return self.get_job(job_id), True

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
        notes: Sequence[Note] = (),
    ) -> JobRecord:
        """Compare-and-set a job's state/stage and append one event, atomically.

        Raises StateConflict when the job is not in one of ``expect`` (or ``expect_stage``).
        ``within`` runs in the same transaction, after the compare-and-set succeeded.
        ``notes`` (``kind, detail``) are appended first, in the state the job was in.
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
            if state is JobState.RUNNING and current is not JobState.RUNNING:
                self.progress.refuse_if_a_lever_holds(conn, job_id)  # set going: not while held
            last_seq = self._add_notes(conn, row, notes, emitted)["last_seq"]
            new_state = state or current
            new_stage = stage or current_stage
            changes: dict[str, Any] = {
                "state": new_state.value,
                "stage": new_stage.value if new_stage else None,
            }
            if bump_attempt and new_stage:
                attempts = json.loads(row.attempts or "{}")
                attempts[new_stage.value] = attempts.get(new_stage.value, 0) + 1
                changes["attempts"] = json.dumps(attempts)
            if error is not None:
                changes["error"] = json.dumps(dict(error), default=str)
            elif clear_error:
                changes["error"] = None
            if ca_request_id is not None:
                changes["ca_request_id"] = ca_request_id
            values = {**row._mapping, **changes, "last_seq": last_seq}
            event = self._add_event(conn, values, kind, detail or {})
            values = self._update_job(conn, row, **changes, last_seq=values["last_seq"])
            if output is not None:
                put_output(conn, job_id, *output)
            if within is not None:
                within(conn)
            emitted.append(event)
        return self._record(values)

    def note(
        self, job_id: str, kind: str, detail: Mapping[str, Any], *, notes: Sequence[Note] = ()
    ) -> JobEvent:
        """Append an event without changing state (a retry, a wait, a rejected callback),
        after ``notes`` if given, in one transaction."""
        with self._write() as (conn, emitted):
            row = self._lock_job(conn, job_id)
            values = self._add_notes(conn, row, [*notes, (kind, detail)], emitted)
            conn.execute(BUMP_SEQ, {"b_id": job_id, "b_last_seq": values["last_seq"]})
        return emitted[-1]

    def _add_notes(
        self, conn: Connection, row: Row[Any], notes: Sequence[Note], emitted: list[JobEvent]
    ) -> dict[str, Any]:
        """Append ``notes`` as events; the row's values with ``last_seq`` moved on (not yet
        written back: the caller does)."""
        values = dict(row._mapping)
        for kind, detail in notes:
            emitted.append(self._add_event(conn, values, kind, detail))
        return values
