"""What a stage core sees: its job, its artifacts, its integrations, and a way to note.

A ``StageContext`` is made per message. While a core runs, the context is also the
current one for this thread, so that integrations deep below (the ServiceNow client's
retries and waits) land in the right job's history. What it keeps of the job goes to a
``JobMemory``: the store's, unless given another (the benchmark's floor).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import Connection

from messages import JobRequest, Stage, StageMessage
from workers.ca import CaAdapter
from workers.config import AnyCaProfile
from workers.errors import PermanentError, StateConflict, TransientError
from workers.logs import register_secret
from workers.machinery.deps import Deps
from workers.machinery.memory import JobMemory, Made, StoredJob
from workers.servicenow import CallRecord, Instance
from workers.store import JobRecord, Note
from workers.store.artifacts import write_artifacts_in

__all__ = ["StageContext", "current_context", "record_call", "sha256_hex"]

M = TypeVar("M", bound=StageMessage)
_current: ContextVar[StageContext | None] = ContextVar("twoway_stage_context", default=None)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def current_context() -> StageContext | None:
    return _current.get()


def record_call(record: CallRecord) -> None:
    """ServiceNow client observer: retries and waits go into the current job's history."""
    ctx = _current.get()
    if ctx is not None and record.outcome in ("retry", "wait"):
        ctx.note_now(
            f"servicenow_{record.outcome}",
            method=record.method,
            path=record.path_template,
            status=record.status,
            attempt=record.attempt,
        )


class StageContext:
    def __init__(
        self, deps: Deps, job: JobRecord, stage: Stage, *, memory: JobMemory | None = None
    ) -> None:
        self.deps = deps
        self.job = job
        self.stage = stage
        self.memory: JobMemory = memory if memory is not None else StoredJob(deps.store, job.id)
        self._stored: dict[str, tuple[bytes, bool]] | None = None  # as read, sealed or not
        self._plain: dict[str, bytes] = {}  # opened or written by this run
        self._made: dict[str, tuple[bytes, bool, bool]] = {}  # produced, stored at the end
        self.notes: list[Note] = []  # history events, written with the outcome
        self.log = structlog.get_logger("twoway.stage").bind(job_id=job.id, stage=stage.value)

    @property
    def request(self) -> JobRequest:
        return self.job.request

    @contextmanager
    def active(self) -> Iterator[StageContext]:
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    # -- artifacts ------------------------------------------------------------------------

    def artifact(self, name: str) -> bytes | None:
        """What the job holds under ``name``. The job's artifacts are read in one query on
        first use and kept for this run (its lease keeps other runs of the job out)."""
        if name in self._plain:
            return self._plain[name]
        if self._stored is None:
            self._stored = self.memory.stored()
        stored = self._stored.get(name)
        if stored is None:
            return None
        self._plain[name] = plain = self.memory.open(*stored)
        return plain

    def require(self, name: str, *, made_by: Stage) -> bytes:
        data = self.artifact(name)
        if data is None:
            raise PermanentError(
                f"the job has no {name.replace('_', ' ')}",
                hint=f"replay stage '{made_by.value}' to make it again",
            )
        return data

    def secret(self, name: str, *, made_by: Stage) -> bytes:
        """A sealed artifact, unsealed; its text is registered for log redaction."""
        data = self.require(name, made_by=made_by)
        if name.endswith("password"):
            register_secret(data.decode("utf-8", "replace"))
        return data

    def keep(self, name: str, data: bytes, *, secret: bool = False) -> bytes:
        """Store once; a second run gets back what the first stored."""
        kept = self.memory.put_all({name: data}, secret=secret)[name]
        self._plain[name] = kept
        return kept

    def keep_all(self, values: Mapping[str, bytes]) -> dict[str, bytes]:
        """``keep`` for what belongs together, in one transaction: a run that dies stores
        all of it or none (never a certificate without its chain)."""
        kept = self.memory.put_all(values)
        self._plain.update(kept)
        return kept

    def produce(
        self, name: str, data: bytes, *, secret: bool = False, replace: bool = False
    ) -> bytes:
        """Like ``keep`` (``replace``: overwriting), for what this run computed on its own:
        it is stored with the stage's outcome, in that one transaction, not on its own.

        Only for values that may be made again: if the run dies first, nothing of it is
        stored and the next run computes it anew. What records the outside world (the
        CA's certificate, an instance's values before we change them) goes through
        ``keep``, which stores at once. A run that finds ``name`` stored by another
        run's outcome gets that value, as with ``keep``.
        """
        if not replace:
            there = self.artifact(name)
            if there is not None:
                return there
        stored = self.memory.seal(data) if secret else data
        self._made[name] = (stored, secret, replace)
        self._plain[name] = data
        return data

    @property
    def made(self) -> list[Made]:
        """What ``produce`` collected, for the outcome to store."""
        return [(name, *value) for name, value in self._made.items()]

    def store_made(self, conn: Connection) -> None:
        """Write what ``produce`` collected, in the transaction recording the outcome."""
        write_artifacts_in(conn, self.job.id, self.made)

    def output(self, stage: Stage, kind: type[M]) -> M:
        """What an earlier stage of this job recorded as its result."""
        recorded = self.memory.output(stage)
        if recorded is None:
            raise PermanentError(
                f"stage {stage.value} has no recorded result for this job",
                hint=f"replay stage '{stage.value}'",
            )
        return kind.model_validate_json(recorded)

    def output_of(self, job_id: str, stage: Stage, kind: type[M]) -> M | None:
        """What a stage of any job (this one, the one it renews) recorded, if it did."""
        recorded = self.deps.store.progress.get_output(job_id, stage)
        return None if recorded is None else kind.model_validate_json(recorded.message)

    # -- shared things --------------------------------------------------------------------

    @contextmanager
    def exclusive(
        self, name: str, *, wait_s: float = 30.0, hold_s: float = 120.0
    ) -> Iterator[None]:
        """Run the block while no other stage run, of any job on any host, is in a block
        of the same ``name``: for finding-or-creating what several jobs share (one trust
        record per certificate and instance).

        A lease in the store, held at most ``hold_s`` (a run that dies keeps the others
        out no longer); after ``wait_s`` of waiting, a ``TransientError`` and a retry.
        """
        key = "x" + hashlib.sha256(name.encode()).hexdigest()[:31]
        owner = f"{self.job.id}:{uuid.uuid4().hex[:16]}"
        deadline, pause = time.monotonic() + wait_s, 0.01
        lease = timedelta(seconds=hold_s)
        while not self.memory.acquire(key, self.stage, owner, lease):
            if time.monotonic() + pause > deadline:
                raise TransientError(
                    f"another job is working on {name} for over {wait_s:.0f} s",
                    hint="the stage is retried; if it keeps failing, look for a stuck worker",
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        try:
            yield
        finally:
            self.memory.release(key, owner)

    # -- history --------------------------------------------------------------------------

    def note(self, kind: str, **detail: Any) -> None:
        """An event for the job's history, written with the run's outcome (completed,
        failed or retried): a run that dies leaves none of its notes, and the next run,
        finding the same things, notes them again."""
        self.notes.append((kind, detail))
        self.log.info(kind, **detail)

    def note_on_renewed(self, kind: str, **detail: Any) -> None:
        """An event written at once in the history of the job this one renews: what became
        of its keystore (retired, or the renewal that failed to replace it)."""
        if self.job.renews is None:
            raise StateConflict(f"job {self.job.id} renews no job", hint="a renewal only")
        self.deps.store.note(self.job.renews, kind, detail)
        self.log.info(kind, renewed=self.job.renews, **detail)

    def history(self) -> list[Any]:
        """This job's events so far, oldest first."""
        return list(self.deps.store.history(self.job.id))

    def note_now(self, kind: str, **detail: Any) -> None:
        """An event written at once: progress an operator should see while the run goes
        on (a ServiceNow retry, a wait the instance asked for)."""
        self.memory.note_now(kind, detail)
        self.log.info(kind, **detail)

    # -- integrations ---------------------------------------------------------------------

    def instance(self) -> Instance:
        return self.deps.instances.get(self.request.instance)

    def ca(self) -> CaAdapter:
        return self.deps.cas.get(self.request.ca.profile)

    def ca_profile(self) -> AnyCaProfile:
        return self.deps.config.ca_profile(self.request.ca.profile)

    def min_remaining(self) -> timedelta:
        return timedelta(days=self.ca_profile().min_remaining_days)
