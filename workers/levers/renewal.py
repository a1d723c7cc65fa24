"""Renewal: a new key and certificate for the same target, switched in without a gap.

``renew`` starts a job that renews a succeeded one: the same request, a new keystore
record name, linked to the old job (``renews``). Its stages upload the new keystore as
a new, inactive record; its ``verify`` proves it with a handshake, switches the profile,
verifies again and retires the old record (see workers/stages/switch.py). At most one
renewal of a certificate runs at a time: concurrent calls share one job.

``inventory`` lists every certificate twoway manages and where it stands.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from messages import CaChoice, JobAccepted, JobRequest, JobState
from workers.app import App
from workers.errors import StateConflict
from workers.levers.reasons import check_reason
from workers.readiness.admission import admit_or_twin
from workers.store import JobRecord, Store
from workers.store.certificates import CertificateRow

__all__ = [
    "STATES",
    "ManagedCertificate",
    "describe",
    "inventory",
    "inventory_page",
    "managed",
    "renew",
    "renewal_request",
]

_SUFFIX = re.compile(r" r\d+(\.\d+)?$")


def _depth(store: Store, job: JobRecord) -> int:
    """How many renewals led to ``job`` (0 for a job nobody renewed before)."""
    depth, current = 0, job
    while current.renews is not None and depth < 1000:
        depth, current = depth + 1, store.get_job(current.renews)
    return depth


def renewal_request(
    old: JobRequest, depth: int, attempt: int, *, ca_profile: str | None = None
) -> JobRequest:
    """The old request with a keystore record name of its own (``<name> r<depth>[.n]``);
    ``ca_profile``: another CA profile signs (a migration)."""
    base = _SUFFIX.sub("", old.keystore.record_name)[:90]
    name = f"{base} r{depth}" + (f".{attempt}" if attempt > 1 else "")
    keystore = old.keystore.model_copy(update={"record_name": name})
    changes: dict[str, Any] = {"keystore": keystore, "rotate": True}
    if ca_profile is not None and ca_profile != old.ca.profile:
        changes["ca"] = CaChoice(profile=ca_profile)
    return old.model_copy(update=changes)


def renew(
    app: App, job_id: str, *, actor: str, reason: str, ca_profile: str | None = None
) -> tuple[JobRecord, bool]:
    """Start renewing ``job_id``'s certificate, or return the renewal already running.
    ``ca_profile``: renew onto another CA profile (a migration: its ``enable`` waits for
    the third party to trust the new CA, then proves before the switch)."""
    reason = check_reason(reason, what="a renewal")
    store = app.store
    old = store.get_job(job_id)
    if old.state is not JobState.SUCCEEDED:
        raise StateConflict(
            f"job {job_id} is {old.state.value}; only a succeeded job's certificate renews",
            hint="replay or resubmit the job first",
        )
    renewals = store.renewals_of(old.id)
    done = [r for r in renewals if r.state is JobState.SUCCEEDED]
    if done:
        raise StateConflict(
            f"job {job_id}'s certificate was already replaced by job {done[-1].id}",
            hint=f"renew job {done[-1].id} instead",
        )
    running = [r for r in renewals if not r.terminal]
    if running:
        return running[0], False
    request = renewal_request(
        old.request, _depth(store, old) + 1, len(renewals) + 1, ca_profile=ca_profile
    )
    key = f"renew:{old.id}:{len(renewals) + 1}"
    twin = admit_or_twin(request, app.config, app.deps.instances, store, key)
    if twin is not None:
        return twin, False
    job, created = store.create_job(request, idempotency_key=key, renews=old.id)
    if created:
        detail = {"renewal": job.id, "actor": actor, "reason": reason}
        if request.ca.profile != old.request.ca.profile:
            detail["ca"] = request.ca.profile
        store.note(old.id, "renewal_started", detail)
        app.runtime.send(app.runtime.routes.first.stage, JobAccepted(job_id=job.id))
    return job, created


@dataclass(frozen=True)
class ManagedCertificate:
    job_id: str
    instance: str
    target: str
    protocol_profile: str
    keystore_record: str
    keystore_sys_id: str | None
    keystore_format: str  # "jks" or "pkcs12" (keystore.format)
    not_before: datetime
    not_after: datetime
    renewal_point: datetime
    days_left: float
    state: str  # current | due | renewing | renewal_failed | replaced | expired
    renewed_by: str | None
    renews: str | None
    submitted_at: datetime  # when the job that made it was submitted

    @property
    def due_on_arrival(self) -> bool:
        """Past its renewal point before its job even started: renewing cannot help."""
        return self.renewal_point <= self.submitted_at

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("not_before", "not_after", "renewal_point", "submitted_at"):
            out[key] = out[key].isoformat()
        out["days_left"] = round(self.days_left, 2)
        return out


def _state(
    renewals: list[JobRecord], due: datetime, end: datetime, now: datetime
) -> tuple[str, str | None]:
    replaced = [r.id for r in renewals if r.state is JobState.SUCCEEDED]
    if replaced:
        return "replaced", replaced[-1]
    running = [r.id for r in renewals if not r.terminal]
    if running:
        return "renewing", running[0]
    if now >= end:
        return "expired", None
    if renewals and renewals[-1].state is JobState.FAILED:
        return "renewal_failed", renewals[-1].id
    return ("due" if now >= due else "current"), None


def managed(row: CertificateRow, renewals: list[JobRecord], now: datetime) -> ManagedCertificate:
    """Where a stored certificate stands, given the jobs that renew it (oldest first)."""
    state, renewed_by = _state(renewals, row.renewal_point, row.not_after, now)
    if row.replaced_by is not None:
        state, renewed_by = "replaced", row.replaced_by
    return ManagedCertificate(
        job_id=row.job_id,
        instance=row.instance,
        target=row.target,
        protocol_profile=row.protocol_profile,
        keystore_record=row.keystore_record,
        keystore_sys_id=row.keystore_sys_id,
        keystore_format=row.keystore_format,
        not_before=row.not_before,
        not_after=row.not_after,
        renewal_point=row.renewal_point,
        days_left=(row.not_after - now).total_seconds() / 86400,
        state=state,
        renewed_by=renewed_by,
        renews=row.renews,
        submitted_at=row.submitted_at,
    )


def describe(store: Store, rows: list[CertificateRow], now: datetime) -> list[ManagedCertificate]:
    """The certificates of ``rows``, with their renewals read in one query."""
    renewals = store.renewals_of_many([r.job_id for r in rows if r.replaced_by is None])
    return [managed(row, renewals.get(row.job_id, []), now) for row in rows]


_PAGE = 500
# The states a page can ask for; renewing and renewal_failed are due (or expired)
# certificates told apart by their renewals, after the page is read.
STATES = ("current", "due", "renewing", "renewal_failed", "expired", "replaced")
_STORED = {"renewing": ("due", "expired"), "renewal_failed": ("due", "expired")}


def inventory_page(
    app: App,
    *,
    now: datetime | None = None,
    instance: str | None = None,
    states: Collection[str] = (),
    days_left: float | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> tuple[list[ManagedCertificate], tuple[datetime, str] | None]:
    """One page of the inventory, soonest notAfter first, and where the next one starts
    (None: this was the last). One query for the page, one for its renewals."""
    moment = now or datetime.now(UTC)
    stored = {s for state in states for s in _STORED.get(state, (state,))}
    rows = app.store.certificates.page(
        moment, instance=instance, states=stored, days_left=days_left, after=after, limit=limit
    )
    found = [c for c in describe(app.store, rows, moment) if not states or c.state in states]
    more = len(rows) == limit
    return found, ((rows[-1].not_after, rows[-1].job_id) if more else None)


def inventory(app: App, *, now: datetime | None = None) -> list[ManagedCertificate]:
    """Every certificate of a succeeded job, soonest notAfter first (read page by page;
    the API and the console read one page: ``Certificates.page``)."""
    moment = now or datetime.now(UTC)
    found: list[ManagedCertificate] = []
    after: tuple[datetime, str] | None = None
    while rows := app.store.certificates.page(moment, after=after, limit=_PAGE):
        found += describe(app.store, rows, moment)
        if len(rows) < _PAGE:
            break
        after = (rows[-1].not_after, rows[-1].job_id)
    return found
