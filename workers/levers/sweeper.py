"""The sweeper: nothing stays stranded when a send was lost.

Every stage is idempotent and duplicates are harmless, so re-sending is always safe;
the sweeper re-sends what may have been lost:

- a job ``accepted`` but never started (the broker was down when it was submitted);
- a stage whose output is recorded but was never forwarded (the worker died between
  recording and sending, and the broker lost the unacked message too);
- a running job with no lease and nothing happening for longer than a stage can take
  (its message is gone): its current stage's input is sent again.

One sweeper runs at a time across all workers (a lease named ``__sweeper__``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from messages import JobAccepted, JobState, Stage, StageMessage
from workers.levers.periodic import Periodic
from workers.machinery.runtime import Runtime
from workers.store import JobRecord

__all__ = ["SweepReport", "Sweeper"]

_log = structlog.get_logger("twoway.sweeper")
_KEY = "__sweeper__"


@dataclass
class SweepReport:
    resent: dict[str, str] = field(default_factory=dict)  # job id -> stage the message went to


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
            cutoff = (now or datetime.now(UTC)) - self.quiet_for
            for job in self.store.list_jobs(
                states=[JobState.ACCEPTED, JobState.RUNNING], updated_before=cutoff, limit=500
            ):
                if self._quiet(job, cutoff):
                    self._revive(job, report)
        finally:
            self.store.progress.release(_KEY, self._owner)
        return report

    def _quiet(self, job: JobRecord, cutoff: datetime) -> bool:
        last = self.store.history(job.id)[-1]
        leased = self.store.progress.lease_of(job.id)
        return last.at < cutoff and leased is None

    def _revive(self, job: JobRecord, report: SweepReport) -> None:
        routes = self.runtime.routes
        target: Stage
        message: StageMessage
        if job.state is JobState.ACCEPTED or job.stage is None:
            target, message = routes.first.stage, JobAccepted(job_id=job.id)
        else:
            recorded = self.store.progress.get_output(job.id, job.stage)
            if recorded is not None:  # finished, never forwarded: send its output on
                route = routes[job.stage]
                if route.next_stage is None:
                    return  # the runtime's resend path finishes the job; leave it to it
                target = route.next_stage
                message = route.produces.model_validate_json(recorded.message)
            else:  # the stage's own message was lost: send its input again
                target, message = job.stage, self._input_of(job.id, job.stage)
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
