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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from messages import JobAccepted, JobRequest, JobState, KeystoreUploaded, Stage
from workers.errors import StateConflict
from workers.levers.admission import admit_or_twin
from workers.levers.reasons import check_reason
from workers.levers.renewal_policy import renewal_point
from workers.machinery.app import App
from workers.store import JobRecord, Store

__all__ = ["ManagedCertificate", "inventory", "renew", "renewal_request"]

_SUFFIX = re.compile(r" r\d+(\.\d+)?$")


def _depth(store: Store, job: JobRecord) -> int:
    """How many renewals led to ``job`` (0 for a job nobody renewed before)."""
    depth, current = 0, job
    while current.renews is not None and depth < 1000:
        depth, current = depth + 1, store.get_job(current.renews)
    return depth


def renewal_request(old: JobRequest, depth: int, attempt: int) -> JobRequest:
    """The old request with a keystore record name of its own (``<name> r<depth>[.n]``)."""
    base = _SUFFIX.sub("", old.keystore.record_name)[:90]
    name = f"{base} r{depth}" + (f".{attempt}" if attempt > 1 else "")
    keystore = old.keystore.model_copy(update={"record_name": name})
    return old.model_copy(update={"keystore": keystore, "rotate": True})


def renew(app: App, job_id: str, *, actor: str, reason: str) -> tuple[JobRecord, bool]:
    """Start renewing ``job_id``'s certificate, or return the renewal already running."""
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
    request = renewal_request(old.request, _depth(store, old) + 1, len(renewals) + 1)
    key = f"renew:{old.id}:{len(renewals) + 1}"
    twin = admit_or_twin(request, app.config, app.deps.instances, store, key)
    if twin is not None:
        return twin, False
    job, created = store.create_job(request, idempotency_key=key, renews=old.id)
    if created:
        detail = {"renewal": job.id, "actor": actor, "reason": reason}
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


def _describe(
    app: App, job: JobRecord, now: datetime, taken_by: str | None = None
) -> ManagedCertificate | None:
    store = app.store
    pem = store.artifacts.get(job.id, "certificate")
    if pem is None:
        return None
    certificate = x509.load_pem_x509_certificate(pem)
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    profile = app.config.ca.get(job.request.ca.profile)
    due = renewal_point(start, end, profile.renew_before if profile else None)
    uploaded = store.progress.get_output(job.id, Stage.UPLOAD_KEYSTORE)
    sys_id = (
        KeystoreUploaded.model_validate_json(uploaded.message).keystore_sys_id
        if (uploaded)
        else None
    )
    state, renewed_by = _state(store.renewals_of(job.id), due, end, now)
    if taken_by is not None and state != "replaced":  # a later job took its message over
        state, renewed_by = "replaced", taken_by
    return ManagedCertificate(
        job_id=job.id,
        instance=job.request.instance,
        target=job.request.target.name,
        protocol_profile=job.request.protocol_profile.name,
        keystore_record=job.request.keystore.record_name,
        keystore_sys_id=sys_id,
        not_before=start,
        not_after=end,
        renewal_point=due,
        days_left=(end - now).total_seconds() / 86400,
        state=state,
        renewed_by=renewed_by,
        renews=job.renews,
        submitted_at=job.created_at,
    )


def inventory(
    app: App, *, now: datetime | None = None, limit: int = 10_000
) -> list[ManagedCertificate]:
    """Every certificate of a succeeded job, soonest notAfter first."""
    moment = now or datetime.now(UTC)
    jobs = app.store.list_jobs(states=[JobState.SUCCEEDED], limit=limit)
    taken = _taken_over(jobs)
    described = (_describe(app, job, moment, taken.get(job.id)) for job in jobs)
    found = [c for c in described if c is not None]
    return sorted(found, key=lambda c: c.not_after)


def _taken_over(jobs: list[JobRecord]) -> dict[str, str]:
    """For each succeeded job, the later succeeded job on the same message (it replaced or
    rotated the configuration: the message now uses that job's certificate)."""
    later: dict[str, str] = {}
    newest: dict[tuple[str, str, str], str] = {}
    for job in sorted(jobs, key=lambda j: j.created_at, reverse=True):
        target = job.request.target
        key = (job.request.instance, target.kind.value, target.name)
        if key in newest:
            later[job.id] = newest[key]
        newest[key] = job.id
    return later
