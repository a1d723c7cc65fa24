"""Migration: adopted (or twoway's own) integrations renewed onto another CA profile.

Each one is a renewal with ``ca_profile`` set (workers/levers/renewal.py): a new key and a
certificate from the new CA, a new keystore record, and ``enable`` waits in
``waiting_for_third_party`` until the partner trusts the new CA (the wait's event links
the new chain, PEM and DER), proves the new keystore against the partner, and ``verify``
switches the profile only after that proof, as a replacement does. Every call the
renewals make holds one of the instance's call slots, so the instance never sees more
than its ``max_concurrent_calls``.

A bulk migration is one batch, kept in ``twoway_migrations``. With ``wave_size`` it moves
in waves: the first starts at once, and each later one when every renewal of the wave
before has ended and none failed or was cancelled (``advance_migrations``, each round of
the scheduler). A wave with a failure halts the batch: an operator looks, then continues
it (``continue_migration``) or withdraws what is still queued (``stop_migration``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from messages import TERMINAL_STATES, JobState
from workers.app import App
from workers.errors import (
    JobNotFound,
    RequestInvalid,
    StateConflict,
    TransientError,
    TwowayError,
)
from workers.levers.reasons import check_reason
from workers.levers.renewal import ManagedCertificate, inventory, renew
from workers.store.batches import MigrationRow

__all__ = [
    "MigrationBatch",
    "advance_migrations",
    "continue_migration",
    "migrate",
    "migration_progress",
    "stop_migration",
]

_log = structlog.get_logger("twoway.migrate")
_MOVABLE = ("current", "due", "renewal_failed", "expired")
_ENDED_BADLY = (JobState.FAILED.value, JobState.CANCELLED.value)


@dataclass
class MigrationBatch:
    batch: str
    ca: str
    wave_size: int | None = None
    started: list[dict[str, Any]] = field(default_factory=list)
    queued: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "ca": self.ca,
            "wave_size": self.wave_size,
            "started": self.started,
            "queued": self.queued,
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
    wave_size: int | None = None,
) -> MigrationBatch:
    """Renew the chosen certificates of ``instance`` onto CA profile ``ca``: all at once,
    or ``wave_size`` at a time (soonest notAfter first)."""
    app.config.ca_profile(ca)  # refused before anything starts when unknown
    reason = check_reason(reason, what="a migration")
    if wave_size is not None and wave_size < 1:
        raise RequestInvalid("wave_size must be at least 1", hint="leave it out for one wave")
    batch = MigrationBatch(batch=uuid.uuid4().hex[:12], ca=ca, wave_size=wave_size)
    certificates = inventory(app)
    known = {c.job_id for c in certificates if c.instance == instance}
    for job_id in jobs:
        if job_id not in known:
            why = f"not a certificate twoway manages on instance {instance!r}"
            batch.skipped.append({"job_id": job_id, "target": None, "reason": why})
    movable: list[ManagedCertificate] = []
    for cert in certificates:
        if cert.instance != instance or not _chosen(app, cert, jobs, finding, everything):
            continue
        if cert.state not in _MOVABLE:
            why = f"its certificate is {cert.state}"
            batch.skipped.append({"job_id": cert.job_id, "target": cert.target, "reason": why})
            continue
        movable.append(cert)
    movable.sort(key=lambda c: (c.not_after, c.job_id))
    size = wave_size or max(1, len(movable))
    app.store.migrations.add(
        [
            {
                "batch": batch.batch,
                "job_id": cert.job_id,
                "instance": instance,
                "target": cert.target,
                "ca": ca,
                "wave": index // size,
                "state": "queued",
                "actor": actor,
                "reason": reason,
            }
            for index, cert in enumerate(movable)
        ]
    )
    _start_wave(app, batch.batch, 0)
    for row in app.store.migrations.of(batch.batch):
        about = {"job_id": row.job_id, "target": row.target}
        if row.state == "started":
            batch.started.append({**about, "renewal": row.renewal})
        elif row.state == "queued":
            batch.queued.append({**about, "wave": row.wave})
        else:
            batch.skipped.append({**about, "reason": row.note})
    return batch


def _start_wave(app: App, batch: str, wave: int) -> int:
    """Start the renewals of one wave's queued rows; how many this call started."""
    started = 0
    for row in app.store.migrations.of(batch):
        if row.wave != wave or row.state != "queued":
            continue
        try:  # renew is idempotent: a second round gets the renewal the first one made
            job, _ = renew(app, row.job_id, actor=row.actor, reason=row.reason, ca_profile=row.ca)
        except TransientError as exc:  # queued still: the next round tries again
            _log.warning(
                "migration_start_deferred", batch=batch, job_id=row.job_id, error=exc.message
            )
            continue
        except TwowayError as exc:
            app.store.migrations.mark(batch, row.job_id, "skipped", note=exc.message)
            continue
        if app.store.migrations.mark(batch, row.job_id, "started", renewal=job.id):
            detail = {
                "batch": batch,
                "renewal": job.id,
                "ca": row.ca,
                "actor": row.actor,
                "wave": wave,
            }
            app.store.note(row.job_id, "migration_started", detail)
            started += 1
    if started:
        _log.info("migration_wave_started", batch=batch, wave=wave, renewals=started)
    return started


@dataclass(frozen=True)
class _Standing:
    rows: list[MigrationRow]
    states: dict[str, str]  # renewal job -> its state

    @property
    def wave(self) -> int | None:
        """The latest wave that has started (None: none has)."""
        waves = [r.wave for r in self.rows if r.state in ("started", "skipped")]
        return max(waves) if waves else None

    @property
    def next_wave(self) -> int | None:
        waves = [r.wave for r in self.rows if r.state == "queued"]
        return min(waves) if waves else None

    def of_wave(self, wave: int | None) -> list[MigrationRow]:
        return [r for r in self.rows if r.wave == wave and r.state == "started"]

    def running(self, wave: int | None) -> list[MigrationRow]:
        ended = {s.value for s in TERMINAL_STATES}
        return [r for r in self.of_wave(wave) if self.states.get(r.renewal or "") not in ended]

    def failed(self, wave: int | None) -> list[MigrationRow]:
        return [r for r in self.of_wave(wave) if self.states.get(r.renewal or "") in _ENDED_BADLY]


def _standing(app: App, batch: str) -> _Standing:
    rows = app.store.migrations.of(batch)
    states = {}
    for row in rows:
        if row.renewal is not None:
            states[row.renewal] = app.store.get_job(row.renewal).state.value
    return _Standing(rows, states)


def advance_migrations(app: App) -> dict[str, int]:
    """Start the next wave of every batch whose last wave ended well; batch -> how many
    renewals started. A batch whose last wave has a failure waits for an operator."""
    out: dict[str, int] = {}
    for batch in app.store.migrations.with_queued():
        standing = _standing(app, batch)
        wave, following = standing.wave, standing.next_wave
        if following is None or standing.running(wave) or standing.failed(wave):
            continue
        out[batch] = _start_wave(app, batch, following)
    return out


def _batch(app: App, instance: str, batch: str) -> _Standing:
    standing = _standing(app, batch)
    if not standing.rows or standing.rows[0].instance != instance:
        raise JobNotFound(
            f"no migration batch {batch!r} on instance {instance!r}",
            hint="the batch id is in the answer that started the migration",
        )
    return standing


def continue_migration(app: App, instance: str, batch: str, *, actor: str) -> dict[str, Any]:
    """Start the next wave of a batch halted by a failure (the operator has looked)."""
    standing = _batch(app, instance, batch)
    wave, following = standing.wave, standing.next_wave
    if following is None:
        raise StateConflict(f"migration {batch} has no wave left to start", hint="see progress")
    if standing.running(wave):
        raise StateConflict(
            f"wave {wave} of migration {batch} is still running",
            hint="the next wave starts by itself when it ends without a failure",
        )
    if not standing.failed(wave):
        raise StateConflict(
            f"migration {batch} is not halted", hint="its next wave starts by itself"
        )
    _log.info("migration_continued", batch=batch, wave=following, actor=actor)
    _start_wave(app, batch, following)
    return migration_progress(app, instance, batch)


def stop_migration(
    app: App, instance: str, batch: str, *, actor: str, reason: str
) -> dict[str, Any]:
    """Withdraw every queued row of a batch; renewals already started go on (roll one
    back with ``twoway rollback`` if it must not finish)."""
    _batch(app, instance, batch)
    reason = check_reason(reason, what="stopping a migration")
    withdrawn = app.store.migrations.withdraw(batch, f"withdrawn by {actor}: {reason}")
    _log.info("migration_stopped", batch=batch, withdrawn=withdrawn, actor=actor)
    return migration_progress(app, instance, batch)


def migration_progress(app: App, instance: str, batch: str) -> dict[str, Any]:
    """Where each certificate of a batch stands: its wave, its renewal's state and stage;
    the counts by state; the wave running, and whether a failure halted the batch."""
    standing = _batch(app, instance, batch)
    jobs: list[dict[str, Any]] = []
    for row in standing.rows:
        about: dict[str, Any] = {"job_id": row.job_id, "target": row.target, "wave": row.wave}
        if row.renewal is None:
            jobs.append(
                {**about, "renewal": None, "state": row.state, "stage": None, "note": row.note}
            )
            continue
        job = app.store.get_job(row.renewal)
        stage = job.stage.value if job.stage else None
        jobs.append({**about, "renewal": job.id, "state": job.state.value, "stage": stage})
    counts = Counter(j["state"] for j in jobs)
    ended = ("succeeded", *_ENDED_BADLY, "skipped", "withdrawn")
    done = sum(counts.get(state, 0) for state in ended)
    wave = standing.wave
    halted = bool(standing.next_wave is not None and standing.failed(wave))
    return {
        "batch": batch,
        "ca": standing.rows[0].ca,
        "total": len(jobs),
        "done": done,
        "counts": dict(counts),
        "wave": wave,
        "waves": max(r.wave for r in standing.rows) + 1,
        "halted": halted,
        "jobs": jobs,
    }
