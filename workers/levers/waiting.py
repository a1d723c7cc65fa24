"""Jobs that wait for their CA or for the third party: since when, until when they may."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from messages import JobState
from workers.config import PipelineConfig
from workers.store import JobRecord, Store

__all__ = ["WaitingJob", "wait_began", "wait_deadline", "waiting_jobs", "waiting_page"]

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
    """Every job in ``states``, the longest waiting first (read in keyset pages on an
    index); with ``since_before``, only those waiting since before then."""
    after: tuple[datetime, str] | None = None
    while batch := store.list_waiting(
        list(states), updated_before=since_before, after=after, limit=_PAGE
    ):
        for job in batch:
            yield _describe(store, config, job)
        if len(batch) < _PAGE:
            return
        after = (batch[-1].updated_at, batch[-1].id)


def waiting_page(
    store: Store,
    config: PipelineConfig,
    states: Collection[JobState],
    *,
    after: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> tuple[list[WaitingJob], tuple[datetime, str] | None]:
    """One page of waiting jobs (the longest waiting first) and where the next begins."""
    batch = store.list_waiting(list(states), after=after, limit=limit + 1)
    page = [_describe(store, config, job) for job in batch[:limit]]
    more = len(batch) > limit
    return page, ((page[-1].since, page[-1].job.id) if more else None)


def wait_deadline(
    config: PipelineConfig, job: JobRecord, state: JobState, since: datetime
) -> datetime | None:
    """Until when a job may wait in ``state`` (a pause) that began at ``since``."""
    profile = config.ca.get(job.request.ca.profile)
    limit = profile.max_wait_days if profile is not None else None
    if state is JobState.WAITING_FOR_THIRD_PARTY:
        limit = config.third_party.max_wait_days
    return since + timedelta(days=limit) if limit is not None else None


def wait_began(job: JobRecord) -> datetime:
    """When a waiting job's wait began: only the transition into a wait moves a waiting
    job's ``updated_at`` (history notes, such as a refused callback, do not)."""
    return job.updated_at


def _describe(store: Store, config: PipelineConfig, job: JobRecord) -> WaitingJob:
    since = wait_began(job)
    deadline = wait_deadline(config, job, job.state, since)
    return WaitingJob(job=job, profile=job.request.ca.profile, since=since, deadline=deadline)
