"""What the store hands out: a job's row as a typed, immutable record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from messages import TERMINAL_STATES, JobRequest, JobState, Stage
from workers.store.progress import LeaseHeld, RecordedOutput

__all__ = ["Begin", "JobRecord"]


@dataclass(frozen=True)
class JobRecord:
    id: str
    state: JobState
    stage: Stage | None
    request: JobRequest
    created_at: datetime
    updated_at: datetime
    attempts: Mapping[str, int] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None
    ca_request_id: str | None = None
    version: int = 1
    renews: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def summary(self) -> dict[str, Any]:
        """The job as every surface shows it (no secrets: the request holds none)."""
        return {
            "job_id": self.id,
            "state": self.state.value,
            "stage": self.stage.value if self.stage else None,
            "instance": self.request.instance,
            "target": self.request.target.name,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "attempts": dict(self.attempts),
            "error": dict(self.error) if self.error else None,
            "ca_request_id": self.ca_request_id,
            "renews": self.renews,
        }


@dataclass(frozen=True)
class Begin:
    """What a delivery for a stage does (see ``Store.begin_stage``)."""

    action: Literal["run", "resend", "skip", "held"]
    job: JobRecord
    output: RecordedOutput | None = None
    held: LeaseHeld | None = None
    reason: str = ""
