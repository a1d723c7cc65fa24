"""How fast and how wide the instance answers: latency per call, and a concurrency limit.

A real instance answers each REST call in 100-300 ms and runs only a few API transactions
at once (each node's pool of API semaphores); past that, calls queue or are refused. A
:class:`Pacing` says how this sandbox behaves (by default: at once, unbounded). Each call
to ``/api/now/*`` and ``/oauth_token.do`` counts as in flight from its arrival to its
answer, queued ones included; ``max_in_flight`` is the most there ever were at once: what
a client's own concurrency limit is proved against.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ops.dev.sandbox.wire import Response, error

__all__ = ["Pacer", "Pacing"]


class Pacing(BaseModel):
    """Latency in milliseconds (``fixed``: ``latency_ms``; ``uniform``: between ``low_ms``
    and ``high_ms``; ``lognormal``: median ``latency_ms`` and shape ``sigma``, clipped to
    ``[low_ms, high_ms]``) and ``concurrency`` calls served at once (0: unbounded), past
    which calls ``queue`` or are refused with 429 or 503."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    distribution: Literal["fixed", "uniform", "lognormal"] = "fixed"
    latency_ms: float = Field(0.0, ge=0.0, le=60_000)
    low_ms: float = Field(0.0, ge=0.0, le=60_000)
    high_ms: float = Field(0.0, ge=0.0, le=60_000)
    sigma: float = Field(0.25, ge=0.0, le=3.0)
    concurrency: int = Field(0, ge=0, le=10_000)
    overflow: Literal["queue", "429", "503"] = "queue"
    retry_after_s: int = Field(1, ge=0, le=3600)
    seed: int = 0

    @model_validator(mode="after")
    def _bounds(self) -> Pacing:
        if self.distribution != "fixed" and self.high_ms < self.low_ms:
            raise ValueError("high_ms must be at least low_ms")
        return self

    def draw_ms(self, rng: random.Random) -> float:
        if self.distribution == "uniform":
            return rng.uniform(self.low_ms, self.high_ms)
        if self.distribution == "lognormal":
            value = rng.lognormvariate(math.log(max(self.latency_ms, 0.001)), self.sigma)
            high = self.high_ms or math.inf
            return min(max(value, self.low_ms), high)
        return self.latency_ms


class Pacer:
    """Applies a :class:`Pacing` around each API call; thread-safe."""

    def __init__(self, pacing: Pacing | None = None) -> None:
        self._lock = threading.Condition()
        self.set(pacing or Pacing())

    def set(self, pacing: Pacing) -> None:
        with self._lock:
            self.pacing = pacing
            self._rng = random.Random(pacing.seed)  # noqa: S311 - latencies, not secrets
            self.in_flight = self.serving = 0
            self.max_in_flight = self.served = self.refused = self.queued = 0
            self._lock.notify_all()

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {
                "pacing": self.pacing.model_dump(mode="json"),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "served": self.served,
                "queued": self.queued,
                "refused": self.refused,
            }

    def reset_peak(self) -> None:
        with self._lock:
            self.max_in_flight = self.in_flight

    def serve(self, handler: Callable[[], Response]) -> Response:
        """Count the call in flight, admit it (or queue, or refuse), wait its latency,
        then run ``handler``."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            refusal = self._admit()
            if refusal is not None:
                return refusal
            try:
                with self._lock:
                    delay = self.pacing.draw_ms(self._rng) / 1000
                if delay > 0:
                    time.sleep(delay)
                return handler()
            finally:
                with self._lock:
                    self.serving -= 1
                    self.served += 1
                    self._lock.notify()
        finally:
            with self._lock:
                self.in_flight -= 1

    def _admit(self) -> Response | None:
        with self._lock:
            limit, overflow = self.pacing.concurrency, self.pacing.overflow
            if limit and self.serving >= limit:
                if overflow != "queue":
                    self.refused += 1
                    return self._refusal(overflow)
                self.queued += 1
                while self.serving >= self.pacing.concurrency > 0:
                    self._lock.wait()
            self.serving += 1
        return None

    def _refusal(self, overflow: str) -> Response:
        retry = [("Retry-After", str(self.pacing.retry_after_s))]
        if overflow == "429":
            detail = "Maximum concurrent API transactions exceeded; try again later"
            return error(429, "Too many concurrent requests", detail, retry)
        return error(503, "Service Unavailable", "All API semaphores are in use", retry)
