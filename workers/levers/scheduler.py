"""The renewal scheduler: renew certificates at their renewal point, retire old records.

Each round (one scheduler at a time across all processes, by a lease):

- a certificate past its renewal point gets a ``certificate_expiring`` event (once) and,
  inside a maintenance window, a renewal job (``renew`` gives concurrent callers one);
- a failed renewal is tried again after ``retry_failed_after_h``;
- a keystore record retired by a renewal is deleted once ``grace_period_days`` passed.

A certificate that its CA revoked before twoway retired it (the CA's records, CRL or OCSP
say so: :meth:`RevocableCa.revoked`) gets a ``certificate_revoked_by_ca`` event and a
renewal at once, inside a maintenance window or not: it no longer works anyway.

The third party's server certificate is watched too (:mod:`workers.levers.partner_watch`).

A renewal whose new certificate is already past its renewal point on arrival (the CA
issues for less time than ``renew_before`` asks) is not renewed again, which would
loop: it gets a ``renewal_policy_unsatisfiable`` event instead.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from workers.app import App
from workers.config.renewal import in_windows
from workers.errors import TwowayError
from workers.levers.partner_watch import watch_partner
from workers.levers.periodic import Periodic
from workers.levers.renewal import ManagedCertificate, inventory, renew
from workers.levers.revocation_watch import revoked_at_ca
from workers.servicenow import tables

__all__ = ["RenewalScheduler", "ScheduleReport"]

_log = structlog.get_logger("twoway.scheduler")
_KEY = "__scheduler__"


@dataclass
class ScheduleReport:
    started: dict[str, str] = field(default_factory=dict)  # certificate's job -> renewal job
    deleted: list[str] = field(default_factory=list)  # keystore sys_ids
    ran: bool = True


class RenewalScheduler(Periodic):
    name = "scheduler"

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app
        self.settings = app.config.renewal
        self.every_s = self.settings.check_every_s
        self._owner = f"scheduler-{uuid.uuid4().hex[:12]}"
        self._asked: dict[str, float] = {}  # job id -> when its CA was last asked
        self._ask_every_s = app.config.revocation.check_every_s

    def run_once(self, now: datetime | None = None) -> ScheduleReport:
        moment = now or datetime.now(UTC)
        lease = timedelta(seconds=max(60.0, self.settings.check_every_s))
        if self.app.store.progress.acquire(_KEY, "schedule", self._owner, lease) is not None:
            return ScheduleReport(ran=False)
        report = ScheduleReport()
        try:
            for certificate in inventory(self.app, now=moment):
                self._consider(certificate, moment, report)
        finally:
            self.app.store.progress.release(_KEY, self._owner)
        return report

    def _consider(self, cert: ManagedCertificate, now: datetime, report: ScheduleReport) -> None:
        if cert.state == "replaced":
            self._delete_after_grace(cert, now, report)
            return
        if cert.state in ("current", "due"):
            watch_partner(self.app, self.app.store.get_job(cert.job_id), now)
        if cert.state in ("current", "due", "renewal_failed") and self._revoked(cert):
            self._note_once(cert, "certificate_revoked_by_ca", now)
            if self._retry_ok(cert, now):
                self._renew(cert, "its CA revoked it", report)
            return
        if cert.state not in ("due", "renewal_failed", "expired") or not self._retry_ok(cert, now):
            return
        self._note_once(cert, "certificate_expiring", now)
        if cert.renews is not None and cert.due_on_arrival:  # renewing again would loop
            self._note_once(cert, "renewal_policy_unsatisfiable", now)
            return
        if not in_windows(now, list(self.settings.windows)):
            return
        self._renew(cert, f"renewal point {cert.renewal_point.isoformat()} passed", report)

    def _revoked(self, cert: ManagedCertificate) -> bool:
        """Whether the CA revoked it, asked at most every ``[revocation] check_every_s``."""
        last = self._asked.get(cert.job_id)
        if last is not None and time.monotonic() - last < self._ask_every_s:
            return False
        self._asked[cert.job_id] = time.monotonic()
        return revoked_at_ca(self.app, cert)

    def _renew(self, cert: ManagedCertificate, reason: str, report: ScheduleReport) -> None:
        try:
            job, created = renew(self.app, cert.job_id, actor="scheduler", reason=reason)
        except TwowayError as exc:
            _log.warning("renewal_not_started", job_id=cert.job_id, **exc.as_dict())
            return
        if created:
            report.started[cert.job_id] = job.id

    def _retry_ok(self, cert: ManagedCertificate, now: datetime) -> bool:
        if cert.state != "renewal_failed" or cert.renewed_by is None:
            return True
        failed = self.app.store.get_job(cert.renewed_by)
        return failed.updated_at + timedelta(hours=self.settings.retry_failed_after_h) <= now

    def _note_once(self, cert: ManagedCertificate, kind: str, now: datetime) -> None:
        if any(e.kind == kind for e in self.app.store.history(cert.job_id)):
            return
        detail = {
            "not_after": cert.not_after.isoformat(),
            "days_left": round(cert.days_left, 2),
            "renewal_point": cert.renewal_point.isoformat(),
        }
        self.app.store.note(cert.job_id, kind, detail)

    def _delete_after_grace(
        self, cert: ManagedCertificate, now: datetime, report: ScheduleReport
    ) -> None:
        history = self.app.store.history(cert.job_id)
        retired = [e for e in history if e.kind == "keystore_retired"]
        if not retired or any(e.kind == "keystore_deleted" for e in history):
            return
        if retired[-1].at + timedelta(days=self.settings.grace_period_days) > now:
            return
        sys_id = str(retired[-1].detail["sys_id"])
        self.app.deps.instances.get(cert.instance).delete_record(tables.CERTIFICATE, sys_id)
        self.app.store.note(cert.job_id, "keystore_deleted", {"sys_id": sys_id})
        report.deleted.append(sys_id)
