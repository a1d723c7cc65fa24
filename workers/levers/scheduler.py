"""The renewal scheduler: renew certificates at their renewal point, retire old records.

Each round (one scheduler at a time across all processes, by a lease):

- a certificate past its renewal point gets a ``certificate_expiring`` event (once) and,
  inside a maintenance window, a renewal job (``renew`` gives concurrent callers one);
- a failed renewal is tried again after ``retry_failed_after_h``;
- a keystore record retired by a renewal is deleted once ``grace_period_days`` passed;
- a bulk migration moving in waves starts its next wave when the last one ended well
  (:func:`workers.levers.migrate.advance_migrations`).

A renewal whose new certificate is already past its renewal point on arrival (the CA
issues for less time than ``renew_before`` asks) is not renewed again, which would
loop: it gets a ``renewal_policy_unsatisfiable`` event instead.

Every ``[revocation] check_every_s`` a round also watches the certificates that are not
replaced, page by page: one its CA revoked before twoway retired it (the CA's records, CRL
or OCSP say so: :meth:`RevocableCa.revoked`) gets a ``certificate_revoked_by_ca`` event and
a renewal at once, inside a maintenance window or not, since it no longer works anyway; and
the third party's server certificate is watched (:mod:`workers.levers.partner_watch`).
The other rounds cost what is due, not what is stored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from workers.app import App
from workers.config.renewal import in_windows
from workers.errors import TwowayError
from workers.levers.migrate import advance_migrations
from workers.levers.partner_watch import watch_partner
from workers.levers.periodic import Periodic
from workers.levers.renewal import ManagedCertificate, describe, renew
from workers.levers.revocation_watch import revoked_at_ca
from workers.servicenow import tables

__all__ = ["RenewalScheduler", "ScheduleReport"]

_log = structlog.get_logger("twoway.scheduler")
_KEY = "__scheduler__"
_PAGE = 500


@dataclass
class ScheduleReport:
    started: dict[str, str] = field(default_factory=dict)  # certificate's job -> renewal job
    deleted: list[str] = field(default_factory=list)  # keystore sys_ids
    waves: dict[str, int] = field(default_factory=dict)  # migration batch -> renewals started
    ran: bool = True


class RenewalScheduler(Periodic):
    name = "scheduler"

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app
        self.settings = app.config.renewal
        self.every_s = self.settings.check_every_s
        self._owner = f"scheduler-{uuid.uuid4().hex[:12]}"
        self._watched: float | None = None  # when this scheduler last watched every one
        self._watch_every_s = app.config.revocation.check_every_s

    def run_once(self, now: datetime | None = None) -> ScheduleReport:
        moment = now or datetime.now(UTC)
        lease = timedelta(seconds=max(60.0, self.settings.check_every_s))
        if self.app.store.progress.acquire(_KEY, "schedule", self._owner, lease) is not None:
            return ScheduleReport(ran=False)
        report = ScheduleReport()
        try:
            for certificate in self._due(moment):
                self._consider(certificate, moment, report)
            self._delete_after_grace(moment, report)
            report.waves = advance_migrations(self.app)
            if self._watch_now():
                for certificate in self._open(moment):
                    self._watch(certificate, moment, report)
        finally:
            self.app.store.progress.release(_KEY, self._owner)
        return report

    def _due(self, now: datetime) -> Iterator[ManagedCertificate]:
        """Every certificate past its renewal point and not replaced: indexed pages of the
        inventory, so that a pass costs what is due, not what is stored."""
        store = self.app.store
        after: tuple[datetime, str] | None = None
        while rows := store.certificates.due(now, after=after, limit=_PAGE):
            yield from describe(store, rows, now)
            if len(rows) < _PAGE:
                return
            after = (rows[-1].renewal_point, rows[-1].job_id)

    def _open(self, now: datetime) -> Iterator[ManagedCertificate]:
        """Every certificate not replaced, soonest notAfter first, in indexed pages."""
        store = self.app.store
        after: tuple[datetime, str] | None = None
        states = ("current", "due", "expired")
        while rows := store.certificates.page(now, states=states, after=after, limit=_PAGE):
            yield from describe(store, rows, now)
            if len(rows) < _PAGE:
                return
            after = (rows[-1].not_after, rows[-1].job_id)

    def _watch_now(self) -> bool:
        """Whether this round watches every open certificate: at most every
        ``[revocation] check_every_s``, so that the other rounds stay cheap."""
        now = time.monotonic()
        if self._watched is not None and now - self._watched < self._watch_every_s:
            return False
        self._watched = now
        return True

    def _watch(self, cert: ManagedCertificate, now: datetime, report: ScheduleReport) -> None:
        if cert.state in ("current", "due"):
            watch_partner(self.app, self.app.store.get_job(cert.job_id), now)
        if cert.state in ("current", "due", "renewal_failed") and revoked_at_ca(self.app, cert):
            self._note_once(cert, "certificate_revoked_by_ca", now)
            if self._retry_ok(cert, now) and cert.job_id not in report.started:
                self._renew(cert, "its CA revoked it", report)

    def _consider(self, cert: ManagedCertificate, now: datetime, report: ScheduleReport) -> None:
        if cert.state not in ("due", "renewal_failed", "expired") or not self._retry_ok(cert, now):
            return
        self._note_once(cert, "certificate_expiring", now)
        if cert.renews is not None and cert.due_on_arrival:  # renewing again would loop
            self._note_once(cert, "renewal_policy_unsatisfiable", now)
            return
        if not in_windows(now, list(self.settings.windows)):
            return
        self._renew(cert, f"renewal point {cert.renewal_point.isoformat()} passed", report)

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

    def _delete_after_grace(self, now: datetime, report: ScheduleReport) -> None:
        """Delete the keystore records that renewals retired, once the grace period passed."""
        store = self.app.store
        before = now - timedelta(days=self.settings.grace_period_days)
        for row in store.certificates.retired_before(before, limit=_PAGE):
            if row.retired_sys_id is None:
                continue
            self.app.deps.instances.get(row.instance).delete_record(
                tables.CERTIFICATE, row.retired_sys_id
            )
            store.note(row.job_id, "keystore_deleted", {"sys_id": row.retired_sys_id})
            report.deleted.append(row.retired_sys_id)
