"""What a stage core is, and what it answers when the job must wait: a leaf module that
stages, the runtime and the fault drills all import, so that none of them imports another
for these names."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from messages import JobState, StageMessage

if TYPE_CHECKING:  # the context imports the machinery; a core only needs its type
    from workers.machinery.context import StageContext

__all__ = ["Paused", "StageCore"]


@dataclass(frozen=True)
class Paused:
    """A core's answer when the job must wait for a person outside (its CA, or the third
    party): the runtime acks and parks it in ``state``; ``detail`` goes into the event."""

    request_id: str
    reason: str
    state: JobState = JobState.WAITING_FOR_CA
    detail: Mapping[str, Any] = field(default_factory=dict)


StageCore = Callable[[Any, "StageContext"], "StageMessage | Paused"]
