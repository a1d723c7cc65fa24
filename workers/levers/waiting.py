"""Jobs that wait for their CA or for the third party: since when, until when they may."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from messages import JobState
from workers.config import PipelineConfig
from workers.store import JobRecord, Store

__all__ = ["WaitingJob", "wait_deadline", "waiting_jobs"]

_PAGE = 500


@dataclass(frozen=True)
class WaitingJob:
    job: JobRecord
    profile: str
    since: datetime
    deadline: datetime | None

    @property
    def request_id(self) -> str | None:
        return self.job.ca_request_id

    def waited(self, now: datetime) -> timedelta:
        return now - self.since

    @property
    def waits_for(self) -> str:
        """``ca`` (the CA to sign) or ``third_party`` (the partner to install our cert)."""
        return "third_party" if self.job.state is JobState.WAITING_FOR_THIRD_PARTY else "ca"

    def summary(self, now: datetime) -> dict[str, Any]:
        return {
            "job_id": self.job.id,
            "waits_for": self.waits_for,
            "ca_profile": self.profile,
            "request_id": self.request_id,
            "waiting_since": self.since.isoformat(),
            "waited_s": round(self.waited(now).total_seconds()),
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "instance": self.job.request.instance,
            "target": self.job.request.target.name,
        }


def waiting_jobs(
    store: Store,
    config: PipelineConfig,
    *,
    since_before: datetime | None = None,
    states: Collection[JobState] = (JobState.WAITING_FOR_CA,),
) -> Iterator[WaitingJob]:
    """Every job in ``states`` (read in pages first, then yielded); with ``since_before``,
    only those waiting since before then (a query, not a scan)."""
    found: dict[str, JobRecord] = {}  # by id: a job created meanwhile shifts the pages
    offset = 0
    while batch := store.list_jobs(
        states=list(states), updated_before=since_before, limit=_PAGE, offset=offset
    ):
        found.update((job.id, job) for job in batch)
        offset += len(batch)
        if len(batch) < _PAGE:
            break
    for job in found.values():
        yield _describe(store, config, job)


def wait_deadline(
    config: PipelineConfig, job: JobRecord, state: JobState, since: datetime
) -> datetime | None:
    """Until when a job may wait in ``state`` (a pause) that began at ``since``."""
    profile = config.ca.get(job.request.ca.profile)
    limit = profile.max_wait_days if profile is not None else None
    if state is JobState.WAITING_FOR_THIRD_PARTY:
        limit = config.third_party.max_wait_days
    return since + timedelta(days=limit) if limit is not None else None


def _describe(store: Store, config: PipelineConfig, job: JobRecord) -> WaitingJob:
    # Only the transition into a wait moves a waiting job's updated_at (history notes,
    # such as a refused callback, do not): it is when the wait began.
    since = job.updated_at
    deadline = wait_deadline(config, job, job.state, since)
    return WaitingJob(job=job, profile=job.request.ca.profile, since=since, deadline=deadline)
