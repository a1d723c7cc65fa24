"""The poller: resumes jobs whose CA can be asked, and ends waits that last too long.

For each job in ``waiting_for_ca``:

- past its CA profile's ``max_wait_days``, it fails with a reason that says how long it
  waited and what to do;
- if its CA adapter is ``pollable``, the CA is asked for the request id stored with the
  job; a certificate goes through :func:`workers.levers.resume.resume_with_certificate`, as a
  callback would. A certificate the CA issued that fails the checks fails the job: it is
  the CA's final answer to that request.

For each job in ``waiting_for_third_party`` (:mod:`workers.levers.partner`):

- past ``[third_party] max_wait_days``, it fails (the message was never touched);
- every ``probe_every_s`` it handshakes with the partner's endpoint using the sealed
  keystore; once the partner accepts our certificate, the job resumes at ``enable``.

Several pollers may run at once: every change is a compare-and-set, and a lost one is
skipped. A failed resume after the certificate was stored is not left behind: the
sweeper (:mod:`workers.levers.sweeper`) re-sends an output that was recorded but not forwarded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from messages import JobState, Stage
from workers.app import App
from workers.ca import Issued
from workers.errors import (
    CaRejected,
    CaUnavailable,
    CertificateRejected,
    PermanentError,
    RequestInvalid,
    StateConflict,
    TwowayError,
)
from workers.levers.partner import probe_third_party, resume_third_party
from workers.levers.periodic import Periodic
from workers.levers.resume import resume_with_certificate
from workers.levers.waiting import WaitingJob, waiting_jobs

__all__ = ["PollReport", "Poller"]

_log = structlog.get_logger("twoway.poller")


@dataclass
class PollReport:
    waiting: int = 0
    polled: int = 0
    resumed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unavailable: int = 0
    probed: int = 0


class Poller(Periodic):
    name = "poller"

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app
        self._probed: dict[str, datetime] = {}  # job id -> this poller's last probe

    def run_once(self, now: datetime | None = None) -> PollReport:
        report = PollReport()
        moment = now or datetime.now(UTC)
        since_before = None if self._any_pollable() else moment - self._shortest_wait()
        for waiting in waiting_jobs(self.app.store, self.app.config, since_before=since_before):
            report.waiting += 1
            try:
                self._visit(waiting, moment, report)
            except Exception:  # noqa: BLE001 - one job's trouble must not stop the round
                _log.exception("poll_failed", job_id=waiting.job.id)
        partners = [JobState.WAITING_FOR_THIRD_PARTY]
        for waiting in waiting_jobs(self.app.store, self.app.config, states=partners):
            report.waiting += 1
            try:
                self._visit_partner(waiting, moment, report)
            except Exception:  # noqa: BLE001 - one job's trouble must not stop the round
                _log.exception("probe_failed", job_id=waiting.job.id)
        return report

    def _visit_partner(self, waiting: WaitingJob, now: datetime, report: PollReport) -> None:
        job = waiting.job
        if waiting.deadline is not None and now >= waiting.deadline:
            if self._expire_partner(waiting, now):
                report.expired.append(job.id)
            return
        every = timedelta(seconds=self.app.config.third_party.probe_every_s)
        if now - self._probed.get(job.id, waiting.since) < every:
            return
        self._probed[job.id] = now
        report.probed += 1
        refusal = probe_third_party(self.app, job)
        if refusal is not None:
            _log.info("third_party_still_refuses", job_id=job.id, answer=refusal.message)
            return
        try:
            resume_third_party(
                self.app,
                job,
                source="poller",
                actor="poller",
                reason="the third party accepts our client certificate now",
            )
        except StateConflict:
            return  # an operator or another poller got there first
        self._probed.pop(job.id, None)
        report.resumed.append(job.id)

    def _expire_partner(self, waiting: WaitingJob, now: datetime) -> bool:
        days = self.app.config.third_party.max_wait_days
        error = PermanentError(
            f"the third party did not accept our client certificate within [third_party]"
            f" max_wait_days = {days:g}: the job waited from {_at(waiting.since)} to"
            f" {_at(now)}; the message was not changed",
            hint="hand the third party client-cert.pem and the CA chain again; once they"
            " have installed it, replay stage 'enable'",
        )
        try:
            self.app.store.transition(
                waiting.job.id,
                kind="third_party_wait_expired",
                expect={JobState.WAITING_FOR_THIRD_PARTY},
                state=JobState.FAILED,
                error={**error.as_dict(), "stage": Stage.ENABLE.value},
                detail=error.as_dict(),
            )
        except StateConflict:
            return False
        return True

    def _any_pollable(self) -> bool:
        """With no pollable CA, a round only expires jobs: those are the only ones read
        (10 000 paused jobs then cost a query that finds none, not 10 000 reads)."""
        return any(self.app.deps.cas.get(name).pollable for name in self.app.config.ca)

    def _shortest_wait(self) -> timedelta:
        waits = [p.max_wait_days for p in self.app.config.ca.values() if p.max_wait_days]
        return timedelta(days=min(waits)) if waits else timedelta(days=36500)

    def _visit(self, waiting: WaitingJob, now: datetime, report: PollReport) -> None:
        if waiting.deadline is not None and now >= waiting.deadline:
            if self._expire(waiting, now):
                report.expired.append(waiting.job.id)
            return
        adapter = self.app.deps.cas.get(waiting.profile)
        if not adapter.pollable or not waiting.request_id:
            return
        report.polled += 1
        try:
            result = adapter.poll(waiting.request_id)
        except CaUnavailable as exc:
            report.unavailable += 1
            _log.warning("ca_unavailable", job_id=waiting.job.id, reason=exc.message)
            return
        except CaRejected as exc:
            if self._fail(waiting, exc, kind="ca_rejected"):
                report.failed.append(waiting.job.id)
            return
        if isinstance(result, Issued):
            self._resume(waiting, result, report)

    def _resume(self, waiting: WaitingJob, result: Issued, report: PollReport) -> None:
        try:
            resume_with_certificate(
                self.app,
                waiting.job.id,
                result.certificate_pem,
                result.chain_pem,
                source="poller",
                actor=f"ca:{waiting.profile}",
            )
        except (CertificateRejected, RequestInvalid) as exc:
            if self._fail(waiting, exc, kind="certificate_rejected"):
                report.failed.append(waiting.job.id)
            return
        except StateConflict:
            return  # a callback or another poller got there first
        report.resumed.append(waiting.job.id)

    def _expire(self, waiting: WaitingJob, now: datetime) -> bool:
        profile = self.app.config.ca_profile(waiting.profile)
        error = PermanentError(
            f"the CA '{waiting.profile}' did not sign within max_wait_days ="
            f" {profile.max_wait_days:g}: the job waited from {_at(waiting.since)} to"
            f" {_at(now)} (request {waiting.request_id})",
            hint="ask the CA about the request; then replay stage 'wait-for-ca', or submit"
            " the job again",
        )
        return self._fail(waiting, error, kind="ca_wait_expired")

    def _fail(self, waiting: WaitingJob, exc: TwowayError, *, kind: str) -> bool:
        detail: dict[str, Any] = {**exc.as_dict(), "request_id": waiting.request_id}
        try:
            self.app.store.transition(
                waiting.job.id,
                kind=kind,
                expect={JobState.WAITING_FOR_CA},
                state=JobState.FAILED,
                error={**detail, "stage": Stage.WAIT_FOR_CA.value},
                detail=detail,
            )
        except StateConflict:
            return False
        _log.warning(kind, job_id=waiting.job.id, reason=exc.message)
        return True


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
