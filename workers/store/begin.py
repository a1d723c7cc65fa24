"""Starting a stage: one transaction decides what a delivery does and takes the lease."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Row

from messages import JobEvent, JobState, Stage
from workers.store.progress import Progress
from workers.store.records import Begin, JobRecord

__all__ = ["StageStarts"]

_ACTIVE = frozenset({JobState.ACCEPTED, JobState.RUNNING})


class StageStarts:
    """``Store.begin_stage`` (mixed into :class:`Store`, whose helpers it uses)."""

    progress: Progress
    _write: Callable[[], AbstractContextManager[tuple[Connection, list[JobEvent]]]]
    _lock_job: Callable[[Connection, str], Row[Any]]
    _record: Callable[[Any], JobRecord]
    _add_event: Callable[[Connection, dict[str, Any], str, Mapping[str, Any]], JobEvent]
    _update_job: Callable[..., dict[str, Any]]

    def begin_stage(
        self,
        job_id: str,
        stage: Stage,
        *,
        order: Sequence[Stage],
        owner: str,
        lease: timedelta,
        detail: Mapping[str, Any],
    ) -> Begin:
        """Decide what a delivery for ``stage`` does, and take the job's lease, atomically.

        ``skip`` a job not running or already past the stage; ``held`` when another run has
        the lease; ``resend`` an output recorded but never forwarded (lease taken);
        otherwise ``run``: the job is at the stage, running, its attempt counted, the lease
        taken, and a ``stage_started`` event written.
        """
        with self._write() as (conn, emitted):
            row = self._lock_job(conn, job_id)
            job = self._record(row)
            past = job.stage is not None and order.index(job.stage) > order.index(stage)
            if job.state not in _ACTIVE or past:
                return Begin("skip", job, reason=f"job is {job.state.value} at {job.stage}")
            held = self.progress.acquire_in(conn, job_id, stage, owner, lease)
            if held is not None:
                return Begin("held", job, held=held)
            # An output of this stage can only be pending when the job is at it (a
            # delivery that finds the job at the stage before is a first one).
            recorded = self.progress.output_in(conn, job_id, stage) if job.stage is stage else None
            if recorded is not None:
                if recorded.forwarded:
                    self.progress.release_in(conn, job_id, owner)
                    return Begin("skip", job, reason="a duplicate of a completed stage")
                return Begin("resend", job, output=recorded)
            attempts = {**job.attempts, stage.value: job.attempts.get(stage.value, 0) + 1}
            changes = {
                "state": JobState.RUNNING.value,
                "stage": stage.value,
                "attempts": json.dumps(attempts),
                "error": None,
            }
            values = {**row._mapping, **changes}
            event = self._add_event(conn, values, "stage_started", detail)
            values = self._update_job(conn, row, **changes, last_seq=values["last_seq"])
            index = order.index(stage)
            if index > 0:  # the previous stage's output reached us: it was forwarded
                self.progress.mark_forwarded_in(conn, job_id, order[index - 1])
            emitted.append(event)
        return Begin("run", self._record(values))
