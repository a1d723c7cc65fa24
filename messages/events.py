"""Job states, stage names and the events a job's history is made of."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from ._base import Message

__all__ = ["TERMINAL_STATES", "WAITING_STATES", "JobEvent", "JobState", "Stage"]


class JobState(StrEnum):
    ACCEPTED = "accepted"
    RUNNING = "running"
    WAITING_FOR_CA = "waiting_for_ca"
    # the second pause: the third party has not installed our client certificate yet
    WAITING_FOR_THIRD_PARTY = "waiting_for_third_party"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# The runbook's two human hand-offs: a paused job holds no broker message and no thread.
WAITING_STATES = frozenset({JobState.WAITING_FOR_CA, JobState.WAITING_FOR_THIRD_PARTY})


class Stage(StrEnum):
    """The nine stages, named as in pipeline.toml; the order lives there, not here."""

    GENERATE = "generate"
    CSR = "csr"
    WAIT_FOR_CA = "wait-for-ca"
    IMPORT_CHAIN = "import-chain"
    UPLOAD_KEYSTORE = "upload-keystore"
    REGISTER_TRUST = "register-trust"
    CREATE_PROFILE = "create-profile"
    ENABLE = "enable"
    VERIFY = "verify"


class JobEvent(Message):
    """One entry of a job's append-only history: what happened, in which state and stage."""

    job_id: str
    seq: int
    at: datetime
    kind: str
    state: JobState
    stage: Stage | None = None
    detail: dict[str, Any] = {}
