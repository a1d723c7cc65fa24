"""The thin part of every actor: validate, decide, run the core, record, send on.

A stage core is ``core(message, ctx) -> next message | Paused``. Around it the runtime
makes delivery at-least-once safe:

- a message for a job that is finished, cancelled, paused or already past this stage is
  acknowledged and skipped;
- a stage whose output is already recorded is not run again: its output is re-sent
  (the worker died after recording, before sending);
- starting and finishing a stage are compare-and-set transitions with an event each;
- ``PermanentError`` fails the job at the stage; ``TransientError`` is retried by dramatiq
  with bounded backoff; on the last attempt the job fails and the message goes to the
  dead-letter queue.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import structlog
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import CurrentMessage
from dramatiq.middleware.time_limit import TimeLimitExceeded
from pydantic import ValidationError

from messages import JobState, Stage, StageMessage

from .context import StageContext
from .deps import Deps
from .errors import JobNotFound, PermanentError, RateLimited, StateConflict, TwowayError
from .leases import LeaseKeeper
from .logs import redact_text
from .pipeline import Route, Routes, build_routes
from .store import JobRecord, LeaseHeld

__all__ = ["Paused", "Runtime", "StageCore"]

_log = structlog.get_logger("twoway.runtime")
_ACTIVE = frozenset({JobState.ACCEPTED, JobState.RUNNING})
_HOST = socket.gethostname()[:24]


@dataclass(frozen=True)
class Paused:
    """A core's answer when the job must wait (for the CA): the runtime acks and parks it."""

    request_id: str
    reason: str


StageCore = Callable[[Any, StageContext], "StageMessage | Paused"]


def _error_detail(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TwowayError):
        return {k: redact_text(v) if isinstance(v, str) else v for k, v in exc.as_dict().items()}
    return {"error": type(exc).__name__, "message": redact_text(str(exc))[:500]}


class Runtime:
    """Declares one dramatiq actor per stage and runs messages through the cores."""

    def __init__(
        self, deps: Deps, broker: dramatiq.Broker, cores: Mapping[Stage, StageCore]
    ) -> None:
        self.deps = deps
        self.broker = broker
        self.routes: Routes = build_routes(deps.config)
        self.cores = dict(cores)
        lease_s = deps.config.broker.lease_s
        self.leases = LeaseKeeper(
            deps.store.progress, duration=timedelta(seconds=lease_s), renew_every=lease_s / 3
        )
        self.actors = {route.stage: self._declare(route) for route in self.routes}

    def _declare(self, route: Route) -> dramatiq.Actor[Any, Any]:
        def run(payload: dict[str, Any]) -> None:
            self.handle(route.stage, payload)

        run.__name__ = route.stage.value.replace("-", "_")
        broker_settings = self.deps.config.broker
        declare = dramatiq.actor(
            actor_name=route.stage.value,
            queue_name=route.queue,
            broker=self.broker,
            max_retries=route.settings.max_retries,
            time_limit=int(route.settings.time_limit_s * 1000),
            min_backoff=broker_settings.min_backoff_ms,
            max_backoff=broker_settings.max_backoff_ms,
        )
        return declare(run)

    # -- sending --------------------------------------------------------------------------

    def send(self, stage: Stage, message: StageMessage, *, patience_s: float = 120.0) -> None:
        """Publish (confirmed), riding out a broker restart for up to ``patience_s``."""
        payload = message.model_dump(mode="json")
        pause, deadline = 0.5, time.monotonic() + patience_s
        while True:
            try:
                self.actors[stage].send(payload)
                return
            except BrokerConnectionError:
                if time.monotonic() + pause > deadline:
                    raise
                _log.warning("broker_unreachable", stage=stage.value, retry_in_s=pause)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    # -- handling -------------------------------------------------------------------------

    def handle(self, stage: Stage, payload: dict[str, Any]) -> None:
        route = self.routes[stage]
        try:
            message = route.consumes.model_validate(payload)
        except ValidationError as exc:
            _log.error("message_rejected", stage=stage.value, reason=str(exc)[:500])
            return
        structlog.contextvars.bind_contextvars(
            job_id=message.job_id, stage=stage.value, message_id=self._message_id()
        )
        try:
            self._handle(route, message)
        finally:
            structlog.contextvars.unbind_contextvars("job_id", "stage", "message_id")

    def _handle(self, route: Route, message: StageMessage) -> None:
        store = self.deps.store
        try:
            job = store.get_job(message.job_id)
        except JobNotFound:
            _log.error("message_for_unknown_job")
            return
        if self._stale(job, route):
            return
        owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        held = self.leases.acquire(job.id, route.stage, owner)
        if held is not None:
            self._come_back_later(route, message, held)
            return
        try:
            onward = self._handle_leased(store.get_job(job.id), route, message)
        finally:
            self.leases.release(job.id, owner)
        if onward is not None:  # sent after the lease is free, so the next stage can start
            self._forward(job.id, route, onward)

    def _handle_leased(
        self, job: JobRecord, route: Route, message: StageMessage
    ) -> StageMessage | None:
        """Run the stage (or find it done); return the result to send on, if any."""
        if self._stale(job, route):
            return None
        recorded = self.deps.store.progress.get_output(job.id, route.stage)
        if recorded is not None and job.stage == route.stage:
            if recorded.forwarded:
                _log.info("stage_skipped", reason="duplicate of a completed stage")
                return None
            _log.info("stage_output_resent")  # the worker died after recording, before sending
            return route.produces.model_validate_json(recorded.message)
        try:
            job = self.deps.store.transition(
                job.id,
                kind="stage_started",
                expect=_ACTIVE,
                state=JobState.RUNNING,
                stage=route.stage,
                bump_attempt=True,
                clear_error=True,
                detail={"message_id": self._message_id()},
            )
        except StateConflict:
            _log.info("stage_skipped", reason="job moved on before the stage started")
            return None
        return self._run(job, route, message)

    def _stale(self, job: JobRecord, route: Route) -> bool:
        """A delivery for a job that is not running, or is already past this stage."""
        past = job.stage is not None and self.routes.index(job.stage) > self.routes.index(
            route.stage
        )
        if job.state in _ACTIVE and not past:
            return False
        _log.info("stage_skipped", state=job.state.value, at_stage=_v(job.stage))
        return True

    def _come_back_later(self, route: Route, message: StageMessage, held: LeaseHeld) -> None:
        """Another run has this job: look again in a second (or when its lease ends)."""
        wait_s = (held.until - datetime.now(UTC)).total_seconds()
        delay_ms = int(max(0.1, min(wait_s, 1.0)) * 1000) + random.randint(0, 250)  # noqa: S311
        _log.info("stage_deferred", held_by_stage=held.stage, delay_ms=delay_ms)
        self.actors[route.stage].send_with_options(
            args=(message.model_dump(mode="json"),), delay=delay_ms
        )

    def _run(self, job: JobRecord, route: Route, message: StageMessage) -> StageMessage | None:
        ctx = StageContext(self.deps, job, route.stage)
        started = time.monotonic()
        try:
            with ctx.active():
                result = self.cores[route.stage](message, ctx)
        except PermanentError as exc:
            self._fail(job, route, exc, started)
            return None
        except (Exception, TimeLimitExceeded) as exc:
            self._retry_or_fail(job, route, exc, started)
            if isinstance(exc, RateLimited):  # wait as long as the instance asked
                raise dramatiq.Retry(delay=int(exc.retry_after * 1000)) from exc
            raise
        return self._record(job, route, result, started)

    def _record(
        self, job: JobRecord, route: Route, result: StageMessage | Paused, started: float
    ) -> StageMessage | None:
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        store = self.deps.store
        try:
            if isinstance(result, Paused):
                store.transition(
                    job.id,
                    kind="waiting_for_ca",
                    expect={JobState.RUNNING},
                    state=JobState.WAITING_FOR_CA,
                    ca_request_id=result.request_id,
                    detail={"request_id": result.request_id, "reason": result.reason},
                )
                _log.info("stage_paused", duration_ms=duration_ms)
                self._observe(route, "paused", duration_ms)
                return None
            store.transition(
                job.id,
                kind="stage_completed",
                expect={JobState.RUNNING},
                output=(route.stage, result.model_dump_json()),
                detail={"duration_ms": duration_ms, **_facts(result)},
            )
        except StateConflict:
            _log.info("stage_result_dropped", reason="job was cancelled or moved meanwhile")
            self._observe(route, "dropped", duration_ms)
            return None
        _log.info("stage_completed", duration_ms=duration_ms)
        self._observe(route, "completed", duration_ms)
        return result

    def _forward(self, job_id: str, route: Route, result: StageMessage) -> None:
        if route.next_stage is None:
            try:
                self.deps.store.transition(
                    job_id,
                    kind="job_succeeded",
                    expect={JobState.RUNNING},
                    state=JobState.SUCCEEDED,
                )
            except StateConflict:
                return
            _log.info("job_succeeded")
        else:
            self.send(route.next_stage, result)
        self.deps.store.progress.mark_forwarded(job_id, route.stage)

    def _fail(self, job: JobRecord, route: Route, exc: BaseException, started: float) -> None:
        detail = _error_detail(exc)
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        with contextlib.suppress(StateConflict):
            self.deps.store.transition(
                job.id,
                kind="stage_failed",
                expect={JobState.RUNNING},
                state=JobState.FAILED,
                error={**detail, "stage": route.stage.value},
                detail={**detail, "duration_ms": duration_ms},
            )
        _log.warning("stage_failed", duration_ms=duration_ms, **detail)
        self._observe(route, "failed", duration_ms)

    def _retry_or_fail(
        self, job: JobRecord, route: Route, exc: BaseException, started: float
    ) -> None:
        attempt = self._retries() + 1
        max_retries = int(self.actors[route.stage].options["max_retries"])
        if attempt > max_retries:
            exhausted = PermanentError(
                f"{route.stage.value} failed {attempt} times; the last error:"
                f" {_error_detail(exc).get('message', type(exc).__name__)}",
                hint=f"fix the cause, then replay stage {route.stage.value}"
                " (the message is in the dead-letter queue)",
            )
            self._fail(job, route, exhausted, started)
            return
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        detail = {
            **_error_detail(exc),
            "attempt": attempt,
            "of": max_retries + 1,
            "duration_ms": duration_ms,
        }
        self.deps.store.note(job.id, "stage_retry", detail)
        _log.warning("stage_retry", **detail)
        self._observe(route, "retried", duration_ms)

    def _observe(self, route: Route, outcome: str, duration_ms: float) -> None:
        self.deps.metrics.observe_stage(route.stage, outcome, duration_ms / 1000)

    @staticmethod
    def _retries() -> int:
        current = CurrentMessage.get_current_message()
        return int(current.options.get("retries", 0)) if current else 0

    @staticmethod
    def _message_id() -> str | None:
        current = CurrentMessage.get_current_message()
        return current.message_id if current else None


def _facts(message: StageMessage) -> dict[str, Any]:
    return message.model_dump(mode="json", exclude={"job_id", "schema_version"})


def _v(stage: Stage | None) -> str | None:
    return stage.value if stage else None
