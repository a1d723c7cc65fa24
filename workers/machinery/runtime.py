"""The thin part of every actor: validate, decide, run the core, record, send on.

A stage core is ``core(message, ctx) -> next message | Paused``. Around it the runtime
makes delivery at-least-once safe. One transaction (``Store.begin_stage``) decides what
a delivery does and takes the job's lease:

- a message for a job that is finished, cancelled, paused or already past this stage is
  acknowledged and skipped;
- a message that finds another run holding the job comes back a second later;
- a stage whose output is recorded but was never sent on is not run again: its output
  is re-sent (the worker died after recording, before sending);
- otherwise the stage starts (an event), runs, and its outcome is recorded with the
  lease freed in the same transaction (workers/machinery/stage_run.py): ``PermanentError`` fails
  the job at the stage; ``TransientError`` is retried by dramatiq with bounded backoff,
  and on the last attempt the job fails and the message goes to the dead-letter queue;
- a stage whose instance has every call slot taken (``InstanceBusy``,
  workers/machinery/call_slots.py) is neither: its lease is freed and its message is
  given back to the broker with a short delay, carrying its retry count unchanged, so
  the worker thread is free at once for other instances' jobs and the wait never uses
  up ``max_retries``. The stage runs again from its start (stages are idempotent); a
  stage that has made its first call keeps its slot until it ends, so it is never
  turned away halfway.
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import structlog
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import CurrentMessage
from pydantic import ValidationError

from messages import JobState, Stage, StageMessage
from workers.errors import InstanceBusy, JobNotFound, StateConflict
from workers.machinery.core import StageCore
from workers.machinery.deps import Deps
from workers.machinery.leases import LeaseKeeper
from workers.machinery.nodes import queue_type_conflict
from workers.machinery.pipeline import Route, Routes, build_routes
from workers.machinery.stage_run import StageRun
from workers.store import JobRecord, LeaseHeld

__all__ = ["DEFERRED", "FORWARD_PATIENCE_S", "Runtime"]

# The event of a hand-off the broker did not take in time (a failover, an outage): the
# output is in the store, and the sweeper sends it when the broker is back.
DEFERRED = "send_deferred"
FORWARD_PATIENCE_S = 30.0  # a worker thread waits this long for the broker, then defers

_log = structlog.get_logger("twoway.runtime")
_HOST = socket.gethostname()[:24]


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
        """Publish (confirmed), riding out a broker restart or a queue's leader election
        for up to ``patience_s``; raises BrokerConnectionError after that."""
        payload = message.model_dump(mode="json")
        pause, deadline = 0.5, time.monotonic() + patience_s
        while True:
            try:
                self.actors[stage].send(payload)
                return
            except BrokerConnectionError as exc:
                conflict = queue_type_conflict(exc)
                if conflict is not None:
                    raise conflict from exc
                if time.monotonic() + pause > deadline:
                    raise
                _log.warning("broker_unreachable", stage=stage.value, retry_in_s=pause)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def send_or_defer(
        self, job_id: str, stage: Stage, message: StageMessage, *, patience_s: float
    ) -> bool:
        """Send within ``patience_s``, or record that the send is owed (``send_deferred``):
        the sweeper sends it from the store once the broker is back. True if sent now."""
        try:
            self.send(stage, message, patience_s=patience_s)
            return True
        except BrokerConnectionError as exc:
            reason = f"the broker did not take the message within {patience_s:g}s"
            self.deps.store.note(
                job_id, DEFERRED, {"to_stage": stage.value, "reason": reason, "error": _cause(exc)}
            )
            _log.warning("send_deferred", job_id=job_id, to_stage=stage.value)
            return False

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
        owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        try:
            begin = store.begin_stage(
                message.job_id,
                route.stage,
                order=self.routes.order,
                owner=owner,
                lease=self.leases.duration,
                detail={"message_id": self._message_id()},
            )
        except JobNotFound:
            _log.error("message_for_unknown_job")
            return
        if begin.action == "skip":
            _log.info("stage_skipped", reason=begin.reason)
            return
        if begin.action == "held":
            assert begin.held is not None
            self._come_back_later(route, message, begin.held)
            return
        try:
            onward = self._leased(begin.job, owner, route, message, begin.output)
        except InstanceBusy as busy:
            self._give_back(route, message, busy)
            return
        if onward is not None:  # sent after the lease is free, so the next stage can start
            self._forward(begin.job.id, route, onward)

    def _leased(
        self, job: JobRecord, owner: str, route: Route, message: StageMessage, output: Any
    ) -> StageMessage | None:
        """Under the lease: re-send a recorded output, or run the stage."""
        job_id = job.id
        self.leases.track(job_id, owner, route.stage)
        run: StageRun | None = None
        try:
            if output is not None:  # the worker died after recording, before sending
                _log.info("stage_output_resent")
                return route.produces.model_validate_json(output.message)
            run = StageRun(
                self.deps,
                job,
                route,
                owner,
                retries_so_far=self._retries(),
                max_retries=int(self.actors[route.stage].options["max_retries"]),
            )
            return run.run(self.cores[route.stage], message)
        finally:
            self.leases.untrack(job_id, owner, freed=run is not None and run.lease_freed)

    def _come_back_later(self, route: Route, message: StageMessage, held: LeaseHeld) -> None:
        """Another run has this job: look again in a second (or when its lease ends)."""
        wait_s = (held.until - datetime.now(UTC)).total_seconds()
        delay_ms = int(max(0.1, min(wait_s, 1.0)) * 1000) + random.randint(0, 250)  # noqa: S311
        _log.info("stage_deferred", held_by_stage=held.stage, delay_ms=delay_ms)
        self.actors[route.stage].send_with_options(
            args=(message.model_dump(mode="json"),), delay=delay_ms
        )

    def _give_back(self, route: Route, message: StageMessage, busy: InstanceBusy) -> None:
        """The instance is at its limit: the message comes back soon, its retries unchanged."""
        delay_ms = int(busy.retry_in_s * 1000 * random.uniform(0.5, 1.5))  # noqa: S311
        _log.info("stage_given_back", instance=busy.instance, delay_ms=delay_ms)
        self.actors[route.stage].send_with_options(
            args=(message.model_dump(mode="json"),), delay=delay_ms, retries=self._retries()
        )

    def _forward(self, job_id: str, route: Route, result: StageMessage) -> None:
        """Send the result to the next stage (whose start marks it forwarded), or finish."""
        if route.next_stage is not None:
            self.send_or_defer(job_id, route.next_stage, result, patience_s=FORWARD_PATIENCE_S)
            return
        try:
            self.deps.store.transition(
                job_id,
                kind="job_succeeded",
                expect={JobState.RUNNING},
                state=JobState.SUCCEEDED,
                within=lambda conn: self.deps.store.progress.mark_forwarded_in(
                    conn, job_id, route.stage
                ),
            )
        except StateConflict:
            return
        _log.info("job_succeeded")

    @staticmethod
    def _retries() -> int:
        current = CurrentMessage.get_current_message()
        return int(current.options.get("retries", 0)) if current else 0

    @staticmethod
    def _message_id() -> str | None:
        current = CurrentMessage.get_current_message()
        return current.message_id if current else None


def _cause(exc: BrokerConnectionError) -> str:
    """What the broker connection failed with, by type only (never a URL or login)."""
    inner = getattr(exc, "message", None)
    return type(inner).__name__ if isinstance(inner, BaseException) else type(exc).__name__
