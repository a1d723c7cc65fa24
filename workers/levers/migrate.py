"""Migration: adopted (or twoway's own) integrations renewed onto another CA profile.

Each one is a renewal with ``ca_profile`` set (workers/levers/renewal.py): a new key and a
certificate from the new CA, a new keystore record, and ``enable`` waits in
``waiting_for_third_party`` until the partner trusts the new CA (the wait's event links
the new chain, PEM and DER), proves the new keystore against the partner, and ``verify``
switches the profile only after that proof, as a replacement does. A bulk migration is
one batch of such renewals; every call they make holds one of the instance's call slots,
so the instance never sees more than its ``max_concurrent_calls``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from workers.app import App
from workers.errors import JobNotFound, TwowayError
from workers.levers.renewal import ManagedCertificate, inventory, renew

__all__ = ["MigrationBatch", "migrate", "migration_progress"]

_MOVABLE = ("current", "due", "renewal_failed", "expired")


@dataclass
class MigrationBatch:
    batch: str
    ca: str
    started: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "ca": self.ca,
            "started": self.started,
            "skipped": self.skipped,
        }


def _findings_of(app: App, job_id: str) -> set[str]:
    for event in app.store.history(job_id):
        if event.kind == "adopted":
            return {str(code) for code in event.detail.get("findings", [])}
    return set()


def _chosen(
    app: App, cert: ManagedCertificate, jobs: tuple[str, ...], finding: str | None, everything: bool
) -> bool:
    if jobs:
        return cert.job_id in jobs
    if finding:
        return finding in _findings_of(app, cert.job_id)
    return everything


def migrate(
    app: App,
    instance: str,
    *,
    ca: str,
    actor: str,
    reason: str,
    jobs: tuple[str, ...] = (),
    finding: str | None = None,
    everything: bool = False,
) -> MigrationBatch:
    """Start renewing the chosen certificates of ``instance`` onto CA profile ``ca``."""
    app.config.ca_profile(ca)  # refused before anything starts when unknown
    batch = MigrationBatch(batch=uuid.uuid4().hex[:12], ca=ca)
    certificates = inventory(app)
    known = {c.job_id for c in certificates if c.instance == instance}
    for job_id in jobs:
        if job_id not in known:
            reason = f"not a certificate twoway manages on instance {instance!r}"
            batch.skipped.append({"job_id": job_id, "target": None, "reason": reason})
    for cert in certificates:
        if cert.instance != instance or not _chosen(app, cert, jobs, finding, everything):
            continue
        about = {"job_id": cert.job_id, "target": cert.target}
        if cert.state not in _MOVABLE:
            batch.skipped.append({**about, "reason": f"its certificate is {cert.state}"})
            continue
        try:
            job, _ = renew(app, cert.job_id, actor=actor, reason=reason, ca_profile=ca)
        except TwowayError as exc:
            batch.skipped.append({**about, "reason": exc.message})
            continue
        detail = {"batch": batch.batch, "renewal": job.id, "ca": ca, "actor": actor}
        app.store.note(cert.job_id, "migration_started", detail)
        batch.started.append({**about, "renewal": job.id})
    return batch


def migration_progress(app: App, instance: str, batch: str) -> dict[str, Any]:
    """Where each renewal of a batch stands, and the counts by state."""
    rows: list[dict[str, Any]] = []
    for cert in inventory(app):
        if cert.instance != instance:
            continue
        for event in app.store.history(cert.job_id):
            if event.kind != "migration_started" or event.detail.get("batch") != batch:
                continue
            job = app.store.get_job(str(event.detail["renewal"]))
            stage = job.stage.value if job.stage else None
            rows.append(
                {
                    "job_id": cert.job_id,
                    "target": cert.target,
                    "renewal": job.id,
                    "state": job.state.value,
                    "stage": stage,
                }
            )
    if not rows:
        raise JobNotFound(
            f"no migration batch {batch!r} on instance {instance!r}",
            hint="the batch id is in the answer that started the migration",
        )
    counts = Counter(row["state"] for row in rows)
    done = counts.get("succeeded", 0) + counts.get("failed", 0) + counts.get("cancelled", 0)
    return {"batch": batch, "total": len(rows), "done": done, "counts": dict(counts), "jobs": rows}
