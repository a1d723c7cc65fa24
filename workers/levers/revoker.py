"""The revoker: certificates that twoway retired are revoked at their CA.

It follows the history (cursor ``revoker``): a keystore record deleted after a renewal's
grace period (``keystore_deleted``), a job rolled back (``rolled_back``) or cancelled
(``job_cancelled``) with a certificate issued, whose CA profile lists that trigger in
``revoke_on``, gets one row in the revocation outbox and a ``revocation_requested`` event.
Nothing waits for it: the rollback, cancel or deletion has finished when the row is made.

Then it works the outbox: the CA's adapter revokes (``certificate_revoked``), or asks a
person to (the manual CA: ``revocation_asked``, which the notifier sends). A CA that is
down is tried again with doubling backoff (``revocation_deferred``) and given up after
``[revocation] max_attempts`` (``revocation_failed``, which a person is told of); a CA
that refuses, or cannot revoke, fails at once.
"""

from __future__ import annotations

import structlog
from cryptography import x509

from workers.ca.base import RevocableCa, Revocation
from workers.errors import PermanentError, TwowayError
from workers.levers.follower import HistoryFollower
from workers.lifecycle.triggers import revocation_trigger
from workers.logs import redact_text
from workers.machinery.deps import Deps
from workers.store.artifacts import Artifact
from workers.store.lifecycle import Backoff, OutboxRow
from workers.store.outbox import OutboxEvent

__all__ = ["Revoker"]

_log = structlog.get_logger("twoway.revoker")


class Revoker(HistoryFollower):
    name = "revoker"
    cursor = "revoker"

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps.store)
        self.deps = deps
        settings = deps.config.revocation
        self.every_s = settings.every_s
        self.backoff = Backoff(
            settings.min_backoff_s, settings.max_backoff_s, settings.max_attempts
        )

    def take(self, item: OutboxEvent) -> None:
        found = revocation_trigger(item)
        if found is None:
            return
        trigger, reason = found
        job = self.store.get_job(item.event.job_id)
        profile = self.deps.config.ca.get(job.request.ca.profile)
        if profile is None or trigger not in profile.revoke_on:
            return
        pem = self.store.artifacts.get(job.id, Artifact.CERTIFICATE)
        if pem is None:  # cancelled before the CA issued: nothing to revoke
            return
        serial = format(x509.load_pem_x509_certificate(pem).serial_number, "x")
        added = self.store.revocations.add(
            job_id=job.id,
            profile=job.request.ca.profile,
            serial=serial,
            reason=reason,
            trigger=trigger,
        )
        if added:
            detail = {"serial": serial, "ca_profile": job.request.ca.profile, "trigger": trigger}
            self.store.note(job.id, "revocation_requested", {**detail, "reason": reason})

    def work(self) -> None:
        for row in self.store.revocations.due():
            if not self.still_ours():
                return
            self._attempt(row)

    def _attempt(self, row: OutboxRow) -> None:
        job_id, profile = row.values["job_id"], row.values["profile"]
        detail = {
            "serial": row.values["serial"],
            "ca_profile": profile,
            "attempt": row.attempts + 1,
        }
        try:
            outcome = self._revoke(row)
        except PermanentError as exc:
            self._give_up(row, detail, exc)
            return
        except TwowayError as exc:
            if row.attempts + 1 >= self.backoff.tries:
                self._give_up(row, detail, exc)
                return
            at = self.store.revocations.retry(row, self.backoff, exc.message)
            self.store.note(
                job_id, "revocation_deferred", {**detail, **_safe(exc), "next_at": at.isoformat()}
            )
            _log.warning("revocation_deferred", job_id=job_id, next_at=at.isoformat())
            return
        state = "done" if outcome.outcome == "revoked" else "asked"
        self.store.revocations.settle(row, state)
        kind = "certificate_revoked" if state == "done" else "revocation_asked"
        self.store.note(job_id, kind, {**detail, "reason": row.values["reason"], **outcome.detail})
        _log.info(kind, job_id=job_id, serial=row.values["serial"])

    def _revoke(self, row: OutboxRow) -> Revocation:
        adapter = self.deps.cas.get(row.values["profile"])
        if not isinstance(adapter, RevocableCa):
            raise PermanentError(
                f"the CA adapter of profile {row.values['profile']!r} cannot revoke",
                hint="revoke the certificate at the CA by hand",
            )
        pem = self.store.artifacts.get(row.values["job_id"], Artifact.CERTIFICATE)
        if pem is None:
            raise PermanentError(
                "the certificate is no longer in the store",
                hint=f"revoke serial {row.values['serial']} at the CA by hand",
            )
        return adapter.revoke(pem, reason=row.values["reason"])

    def _give_up(self, row: OutboxRow, detail: dict[str, object], exc: TwowayError) -> None:
        self.store.revocations.settle(row, "failed", error=exc.message)
        self.store.note(row.values["job_id"], "revocation_failed", {**detail, **_safe(exc)})
        _log.error("revocation_failed", job_id=row.values["job_id"], error=exc.message)


def _safe(exc: TwowayError) -> dict[str, object]:
    return {k: redact_text(v) if isinstance(v, str) else v for k, v in exc.as_dict().items()}
