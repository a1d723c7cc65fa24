"""Rollback: undo what a job changed on its ServiceNow instance (``twoway rollback ID``).

The steps and their order are in :mod:`workers.levers.undo`. Around them:

- a job still ``accepted`` or ``running`` is refused: cancel it first and roll back once
  its stage has finished; while rollback runs it holds the job's lease, so no stage of the
  job runs at the same time;
- the history gets ``rollback_started``, one ``undone`` event per thing undone (and a
  ``rollback_kept`` event per thing deliberately left, with the reason), and finally
  ``rolled_back``, which moves the job to ``cancelled``: its effect on the instance is
  withdrawn, as if it had been cancelled before it started. A failure leaves the job as it
  was with a ``rollback_failed`` event; rolling back again continues where it stopped;
- a job already rolled back (and not run since) is not touched again: the report of that
  rollback comes back with ``already_done``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from messages import JobState
from workers.app import App
from workers.errors import StateConflict, TwowayError
from workers.levers.reasons import check_reason
from workers.levers.undo import RollbackStep, Undo, rolled_back_after_last_run
from workers.logs import redact_text
from workers.store import JobRecord

__all__ = ["RollbackReport", "RollbackStep", "rollback"]

_UNDOABLE = frozenset(
    {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.WAITING_FOR_CA,
        JobState.WAITING_FOR_THIRD_PARTY,
    }
)
_LEASE = timedelta(minutes=10)


class RollbackReport(BaseModel):
    """What a rollback did, step by step; ``already_done`` when an earlier one had."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    state: JobState
    already_done: bool = False
    steps: tuple[RollbackStep, ...] = ()


def rollback(app: App, job_id: str, *, actor: str, reason: str) -> RollbackReport:
    """Undo job ``job_id`` on its instance; safe to call again (a no-op once done)."""
    why = check_reason(reason, what="a rollback")
    store = app.store
    job = store.get_job(job_id)
    done = _earlier_report(app, job)
    if done is not None:
        return done
    _refuse_unless_undoable(job)
    _refuse_adopted(app, job)
    owner = f"rollback-{uuid.uuid4().hex}"
    job = _claim(app, job, owner, actor=actor, reason=why)
    try:
        return _undo(app, job, actor=actor, reason=why)
    finally:
        store.progress.release(job_id, owner)


def _claim(app: App, job: JobRecord, owner: str, *, actor: str, reason: str) -> JobRecord:
    """Take the job for this rollback: the state check, the lease and ``rollback_started``
    in one transaction. From then on no other lever moves the job and no stage runs it."""
    store = app.store

    def take(conn: Connection) -> None:
        held = store.progress.acquire_in(conn, job.id, "rollback", owner, _LEASE)
        if held is not None:
            raise StateConflict(
                f"job {job.id} is held by a run of {held.stage} until {held.until:%H:%M:%S} UTC",
                hint="wait until that run has finished, then roll back again",
            )

    detail = {"actor": actor, "reason": reason, "from_state": job.state.value}
    try:
        return store.transition(
            job.id, kind="rollback_started", expect=_UNDOABLE, detail=detail, within=take
        )
    except IntegrityError:  # a stage run took the job's first lease at the same moment
        raise StateConflict(
            f"job {job.id} is held by a stage run", hint="roll back again once it has finished"
        ) from None
    except StateConflict as exc:
        _refuse_unless_undoable(store.get_job(job.id))  # it moved: say to what
        raise exc from None


def _undo(app: App, job: JobRecord, *, actor: str, reason: str) -> RollbackReport:
    store = app.store

    def record(step: RollbackStep) -> None:
        kind = "rollback_kept" if step.action == "kept" else "undone"
        store.note(job.id, kind, step.model_dump())

    try:
        steps = Undo(app.deps, job, record).run()
    except TwowayError as exc:
        failure = {k: redact_text(v) if isinstance(v, str) else v for k, v in exc.as_dict().items()}
        store.note(job.id, "rollback_failed", failure)
        raise
    summary = [step.model_dump() for step in steps]
    try:
        final = store.transition(
            job.id,
            kind="rolled_back",
            expect=_UNDOABLE,
            state=JobState.CANCELLED,
            detail={"actor": actor, "reason": reason, "steps": summary},
        )
    except StateConflict as exc:  # cannot happen while the claim holds; never hide the undo
        changed = [s for s in steps if s.action != "kept"]
        store.note(job.id, "rollback_failed", {"error": "StateConflict", "message": exc.message})
        raise StateConflict(
            f"the rollback of job {job.id} undid {len(changed)} thing(s) on the instance"
            f" ({', '.join(f'{s.action} {s.what}' for s in changed) or 'nothing'}), then"
            f" found the job moved: {exc.message}",
            hint="look at the job's history and the instance before acting again",
        ) from None
    return RollbackReport(job_id=job.id, state=final.state, steps=tuple(steps))


def _earlier_report(app: App, job: JobRecord) -> RollbackReport | None:
    event = rolled_back_after_last_run(app.store.history(job.id))
    if event is None:
        return None
    steps = tuple(RollbackStep.model_validate(s) for s in event.detail.get("steps", []))
    return RollbackReport(job_id=job.id, state=job.state, already_done=True, steps=steps)


def _refuse_unless_undoable(job: JobRecord) -> None:
    if job.state in _UNDOABLE:
        return
    stage = job.stage.value if job.stage else "its first stage"
    raise StateConflict(
        f"job {job.id} is {job.state.value} (at {stage}); a running job cannot be rolled back",
        hint=f"cancel it first ('twoway cancel {job.id} --reason ...'), then roll back once"
        " its stage has finished",
    )


def _refuse_adopted(app: App, job: JobRecord) -> None:
    """An adopted integration was made by hand: twoway created nothing to undo, and its
    records are not twoway's to delete (docs/estate.md)."""
    if any(event.kind == "adopted" for event in app.store.history(job.id)):
        raise StateConflict(
            f"job {job.id} is an adopted integration: twoway made none of its records",
            hint="roll back the renewal or migration that replaced it, if any",
        )
