"""Percentiles and per-stage latencies from job histories."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from messages import JobEvent, Stage

__all__ = ["percentile", "stage_latencies"]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def stage_latencies(histories: Iterable[list[JobEvent]]) -> dict[str, list[float]]:
    """Per stage, the milliseconds from the message's start to the stage's completion."""
    out: dict[str, list[float]] = {stage.value: [] for stage in Stage}
    for history in histories:
        started: dict[str, float] = {}
        for event in history:
            if event.stage is None:
                continue
            if event.kind == "stage_started":
                started[event.stage.value] = event.at.timestamp()
            elif event.kind == "stage_completed" and event.stage.value in started:
                elapsed = event.at.timestamp() - started.pop(event.stage.value)
                out[event.stage.value].append(elapsed * 1000)
    return out
