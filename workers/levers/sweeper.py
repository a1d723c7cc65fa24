"""The sweeper: nothing stays stranded when a send was lost.

Every stage is idempotent and duplicates are harmless, so re-sending is always safe;
the sweeper re-sends what may have been lost:

- a job ``accepted`` but never started (the broker was down when it was submitted);
- a stage whose output is recorded but was never forwarded (the worker died between
  recording and sending, and the broker lost the unacked message too);
- a running job with no lease and nothing happening for longer than a stage can take
  (its message is gone): its current stage's input is sent again.

- a job whose send was deferred (``send_deferred``: the broker did not take a submission
  or a stage's hand-off in time, during a failover): sent again at every sweep, without
  waiting for the job to be quiet, until the broker takes it.

A job that stays quiet after that re-send (no lease, no event, for as long again: the
re-sent message was lost too, or nothing consumes its queue) is marked stalled: an event
``job_stalled`` with the reason, which the API and ``twoway status`` show. The sweeper
sends nothing more for it; an operator replays its stage (``twoway replay``).

One sweeper runs at a time across all workers (a lease named ``__sweeper__``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from messages import JobAccepted, JobEvent, JobState, Stage, StageMessage
from workers.levers.periodic import Periodic
from workers.machinery.runtime import DEFERRED, Runtime
from workers.store import JobRecord

__all__ = ["STALLED", "SweepReport", "Sweeper"]

_log = structlog.get_logger("twoway.sweeper")
_KEY = "__sweeper__"
STALLED = "job_stalled"
_DEFERRED_PATIENCE_S = 5.0  # per owed send, per sweep: the broker is likely still away


@dataclass
class SweepReport:
    resent: dict[str, str] = field(default_factory=dict)  # job id -> stage the message went to
    stalled: list[str] = field(default_factory=list)  # jobs marked stalled in this sweep


class Sweeper(Periodic):
    name = "sweeper"

    def __init__(self, runtime: Runtime, *, quiet_for: timedelta | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.store = runtime.deps.store
        broker = runtime.deps.config.broker
        longest = max(stage.time_limit_s for stage in runtime.deps.config.stages)
        default = longest + broker.max_backoff_ms / 1000 + 2 * broker.lease_s
        self.quiet_for = quiet_for or timedelta(seconds=broker.sweep_quiet_s or default)
        self.every_s = broker.sweep_every_s
        self._owner = uuid.uuid4().hex

    def sweep(self, now: datetime | None = None) -> SweepReport:
        report = SweepReport()
        held = self.store.progress.acquire(_KEY, "sweep", self._owner, self.quiet_for)
        if held is not None:
            return report
        try:
            self._send_deferred(report)
            cutoff = (now or datetime.now(UTC)) - self.quiet_for
            for job in self.store.list_jobs(
                states=[JobState.ACCEPTED, JobState.RUNNING], updated_before=cutoff, limit=500
            ):
                last = self._quiet(job, cutoff)
                if last is None or last.kind == STALLED:
                    continue
                if last.kind == "message_resent" and last.detail.get("by") == "sweeper":
                    self._stall(job, last, report)
                else:
                    self._revive(job, report)
        finally:
            self.store.progress.release(_KEY, self._owner)
        return report

    def _send_deferred(self, report: SweepReport) -> None:
        """Send what a failover left owed; a send that fails again stays owed."""
        for job in self.store.list_jobs(states=[JobState.ACCEPTED, JobState.RUNNING], limit=500):
            last = self.store.history(job.id)[-1]
            if last.kind != DEFERRED:
                continue
            target, message = self._owed(job)
            if target is None or message is None:
                continue
            self.store.note(job.id, "message_resent", {"to_stage": target.value, "by": "deferral"})
            if self.runtime.send_or_defer(job.id, target, message, patience_s=_DEFERRED_PATIENCE_S):
                report.resent[job.id] = target.value
                _log.warning("deferred_message_sent", job_id=job.id, to_stage=target.value)

    def _quiet(self, job: JobRecord, cutoff: datetime) -> JobEvent | None:
        """The job's last event if the job is quiet (no lease, no event since ``cutoff``)."""
        last = self.store.history(job.id)[-1]
        leased = self.store.progress.lease_of(job.id)
        return last if last.at < cutoff and leased is None else None

    def _stall(self, job: JobRecord, resent: JobEvent, report: SweepReport) -> None:
        stage = str(resent.detail.get("to_stage"))
        quiet_s = round(self.quiet_for.total_seconds())
        reason = (
            f"no worker took the re-sent message for '{stage}' within {quiet_s}s: no live"
            " lease, no message in flight"
        )
        detail = {"stage": stage, "reason": reason, "hint": f"replay '{stage}' to go on"}
        self.store.note(job.id, STALLED, detail)
        report.stalled.append(job.id)
        _log.error("job_stalled", job_id=job.id, stage=stage, reason=reason)

    def _owed(self, job: JobRecord) -> tuple[Stage | None, StageMessage | None]:
        """The message the job is waiting for: its first, a recorded output never
        forwarded, or its current stage's input (None, None: the runtime finishes it)."""
        routes = self.runtime.routes
        if job.state is JobState.ACCEPTED or job.stage is None:
            return routes.first.stage, JobAccepted(job_id=job.id)
        recorded = self.store.progress.get_output(job.id, job.stage)
        if recorded is not None:  # finished, never forwarded: send its output on
            route = routes[job.stage]
            if route.next_stage is None:
                return None, None  # the runtime's resend path finishes the job
            return route.next_stage, route.produces.model_validate_json(recorded.message)
        return job.stage, self._input_of(job.id, job.stage)  # its own message was lost

    def _revive(self, job: JobRecord, report: SweepReport) -> None:
        target, message = self._owed(job)
        if target is None or message is None:
            return
        self.store.note(job.id, "message_resent", {"to_stage": target.value, "by": "sweeper"})
        self.runtime.send(target, message)
        report.resent[job.id] = target.value
        _log.warning("message_resent", job_id=job.id, to_stage=target.value)

    def _input_of(self, job_id: str, stage: Stage) -> StageMessage:
        routes = self.runtime.routes
        before = routes.before(stage)
        if not before:
            return JobAccepted(job_id=job_id)
        recorded = self.store.progress.get_output(job_id, before[-1])
        assert recorded is not None, f"{stage} started without {before[-1]}'s output"
        return routes[before[-1]].produces.model_validate_json(recorded.message)

    def run_once(self) -> SweepReport:
        return self.sweep()
