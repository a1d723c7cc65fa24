"""One run of one stage for one job: the core, then exactly one recorded outcome.

The outcome (completed, paused, failed) is written in the same transaction that frees
the job's lease, so the next stage's message never finds the lease still held. A
transient error frees the lease on its own and lets dramatiq retry. ``InstanceBusy``
(every call slot of the instance taken) is no outcome: the runtime gives the message back.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import structlog
from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlalchemy import Connection

from messages import JobState, StageMessage
from workers.errors import (
    CaRateLimited,
    ConfigError,
    InstanceBusy,
    PermanentError,
    RateLimited,
    StateConflict,
    TwowayError,
)
from workers.logs import redact_text
from workers.machinery.call_slots import keeping
from workers.machinery.context import StageContext
from workers.machinery.core import Paused, StageCore
from workers.machinery.deps import Deps
from workers.machinery.pipeline import Route
from workers.store import JobRecord, Note

__all__ = ["StageRun", "completed_detail", "error_detail"]

_log = structlog.get_logger("twoway.runtime")


def error_detail(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TwowayError):
        return {k: redact_text(v) if isinstance(v, str) else v for k, v in exc.as_dict().items()}
    return {"error": type(exc).__name__, "message": redact_text(str(exc))[:500]}


@dataclass
class StageRun:
    deps: Deps
    job: JobRecord
    route: Route
    owner: str
    retries_so_far: int
    max_retries: int
    lease_freed: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def duration_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 1)

    def _free_lease(self, conn: Connection) -> None:
        self.deps.store.progress.release_in(conn, self.job.id, self.owner)
        self.lease_freed = True

    def _closing(self, ctx: StageContext) -> Callable[[Connection], None]:
        """What the outcome's transaction does besides: store what the run produced, and
        free the lease."""

        def close(conn: Connection) -> None:
            ctx.store_made(conn)
            self._free_lease(conn)

        return close

    def run(self, core: StageCore, message: StageMessage) -> StageMessage | None:
        """The core, then its outcome; returns the result to send on, if any."""
        ctx = StageContext(self.deps, self.job, self.route.stage)
        try:
            with ctx.active(), keeping():  # its calls to the instance share one slot
                result = core(message, ctx)
        except InstanceBusy:  # not a failure: the runtime gives the message back
            self._observe("busy", "stage_instance_busy")
            raise
        except (PermanentError, ConfigError) as exc:  # a retry cannot fix either
            self.fail(exc, ctx.notes)
            return None
        except (Exception, TimeLimitExceeded) as exc:
            self._retry_or_fail(exc, ctx.notes)
            if isinstance(exc, RateLimited | CaRateLimited):  # wait as long as asked
                raise dramatiq.Retry(delay=int(exc.retry_after * 1000)) from exc
            raise
        return self._record(result, ctx)

    def _record(self, result: StageMessage | Paused, ctx: StageContext) -> StageMessage | None:
        store, stage = self.deps.store, self.route.stage
        try:
            if isinstance(result, Paused):
                for_ca = result.state is JobState.WAITING_FOR_CA
                store.transition(
                    self.job.id,
                    kind=result.state.value,
                    expect={JobState.RUNNING},
                    state=result.state,
                    ca_request_id=result.request_id if for_ca else None,
                    detail={
                        **({"request_id": result.request_id} if for_ca else {}),
                        "reason": result.reason,
                        **result.detail,
                    },
                    within=self._closing(ctx),
                    notes=ctx.notes,
                )
                self._observe("paused", "stage_paused")
                return None
            store.transition(
                self.job.id,
                kind="stage_completed",
                expect={JobState.RUNNING},
                output=(stage, result.model_dump_json()),
                detail=completed_detail(result, self.duration_ms),
                within=self._closing(ctx),
                notes=ctx.notes,
            )
        except StateConflict:
            self._observe("dropped", "stage_result_dropped")
            return None
        self._observe("completed", "stage_completed")
        return result

    def fail(self, exc: BaseException, notes: Sequence[Note] = ()) -> None:
        detail = error_detail(exc)
        with contextlib.suppress(StateConflict):
            self.deps.store.transition(
                self.job.id,
                kind="stage_failed",
                expect={JobState.RUNNING},
                state=JobState.FAILED,
                error={**detail, "stage": self.route.stage.value},
                detail={**detail, "duration_ms": self.duration_ms},
                within=self._free_lease,
                notes=notes,
            )
        _log.warning("stage_failed", duration_ms=self.duration_ms, **detail)
        self.deps.metrics.observe_stage(self.route.stage, "failed", self.duration_ms / 1000)

    def _retry_or_fail(self, exc: BaseException, notes: Sequence[Note]) -> None:
        attempt = self.retries_so_far + 1
        if attempt > self.max_retries:
            self.fail(
                PermanentError(
                    f"{self.route.stage.value} failed {attempt} times; the last error:"
                    f" {error_detail(exc).get('message', type(exc).__name__)}",
                    hint=f"fix the cause, then replay stage {self.route.stage.value}"
                    " (the message is in the dead-letter queue)",
                ),
                notes,
            )
            return
        detail = {
            **error_detail(exc),
            "attempt": attempt,
            "of": self.max_retries + 1,
            "duration_ms": self.duration_ms,
        }
        self.deps.store.note(self.job.id, "stage_retry", detail, notes=notes)
        _log.warning("stage_retry", **detail)
        self.deps.metrics.observe_stage(self.route.stage, "retried", self.duration_ms / 1000)

    def _observe(self, outcome: str, event: str) -> None:
        _log.info(event, duration_ms=self.duration_ms)
        self.deps.metrics.observe_stage(self.route.stage, outcome, self.duration_ms / 1000)


def completed_detail(result: StageMessage, duration_ms: float) -> dict[str, Any]:
    """A ``stage_completed`` event's detail: how long the stage took, and what it made."""
    facts = result.model_dump(mode="json", exclude={"job_id", "schema_version"})
    return {"duration_ms": duration_ms, **facts}
