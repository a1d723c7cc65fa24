"""Retention: apply ``[retention]`` (retention_policy.py) in batches, one job at a time.

Each round (one at a time across all processes, by a lease, like the scheduler) prunes
at most ``batch`` jobs of each kind, so a large backlog is worked off over several
rounds without long transactions; each pruned job gets a ``retention_applied`` event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from workers.app import App
from workers.levers.periodic import Periodic

__all__ = ["KEPT_ARTIFACTS", "Retention", "RetentionReport"]

_log = structlog.get_logger("twoway.retention")
_KEY = "__retention__"
# A replaced job keeps its certificate: what was issued stays on file (audits, revocation).
KEPT_ARTIFACTS = ("certificate", "client_cert_pem", "client_cert_der")


@dataclass
class RetentionReport:
    ran: bool = True
    artifacts: int = 0  # jobs whose artifacts went
    histories: int = 0  # jobs whose history went
    ended: int = 0  # failed and rolled-back jobs pruned
    bytes: int = 0
    events: int = 0
    jobs: list[str] = field(default_factory=list)

    def add(self, job_id: str, removed: dict[str, Any] | None) -> bool:
        if removed is None:
            return False
        self.jobs.append(job_id)
        self.bytes += int(removed["bytes"])
        self.events += int(removed["events"])
        return True

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["jobs"] = len(self.jobs)
        return out


class Retention(Periodic):
    name = "retention"

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app
        self.settings = app.config.retention
        self.every_s = self.settings.every_s
        self._owner = f"retention-{uuid.uuid4().hex[:12]}"

    def run_once(self, now: datetime | None = None) -> RetentionReport:
        moment = now or datetime.now(UTC)
        progress = self.app.store.progress
        lease = timedelta(seconds=max(60.0, self.every_s))
        if progress.acquire(_KEY, "retention", self._owner, lease) is not None:
            return RetentionReport(ran=False)
        report = RetentionReport()
        try:
            self._replaced(moment, report)
            self._ended(moment, report)
        finally:
            progress.release(_KEY, self._owner)
        if report.jobs:
            _log.info("retention_applied", **report.as_dict())
        return report

    def _replaced(self, now: datetime, report: RetentionReport) -> None:
        store, policy = self.app.store, self.settings
        if policy.artifacts_days is not None:
            before = now - timedelta(days=policy.artifacts_days)
            for job_id in store.prunable_replaced(before, 1, policy.batch):
                removed = store.prune(job_id, keep=KEPT_ARTIFACTS, level=1)
                report.artifacts += report.add(job_id, removed)
        if policy.history_days is not None:
            before = now - timedelta(days=policy.history_days)
            for job_id in store.prunable_replaced(before, 2, policy.batch):
                removed = store.prune(job_id, keep=KEPT_ARTIFACTS, history=True, level=2)
                report.histories += report.add(job_id, removed)

    def _ended(self, now: datetime, report: RetentionReport) -> None:
        store, policy = self.app.store, self.settings
        if policy.ended_days is None:
            return
        before = now - timedelta(days=policy.ended_days)
        for job_id in store.prunable_ended(before, policy.batch):
            report.ended += report.add(job_id, store.prune(job_id))
