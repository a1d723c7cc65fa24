"""Refused CA callbacks: what an unauthenticated caller may cost, and what it is told.

A callback refused before its signature proved anything (401: wrong, stale or missing
signature; 403: a CA profile that takes no callbacks) writes nothing to the job's history
and publishes nothing: it is counted in ``twoway_callback_refusals_total{status}`` and logged.
Such refusals are throttled in each process: past ``limit`` within ``window_s`` from one
client address, or at one job, further unsigned or badly signed callbacks are answered 429
until the window moves on. The signature is checked first, always: a callback the CA
signed is never throttled, so a flood (even from the CA's own address) cannot keep a job
waiting. Authenticated refusals (400, 409) stay in the history, at most
``KEPT_PER_JOB`` per job, then one ``callback_refusals_capped`` event.
"""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["KEPT_PER_JOB", "Throttle"]

KEPT_PER_JOB = 20


class Throttle:
    """At most ``limit`` refusals per key within the last ``window_s`` seconds."""

    def __init__(self, limit: int = 30, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def over(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, time.monotonic())) >= self.limit

    def hit(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._hits) > 100_000:  # never a memory leak of its own
                self._hits.clear()
            for key in keys:
                self._recent(key, now).append(now)

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if not hits:
            self._hits.pop(key, None)
            hits = self._hits.setdefault(key, deque())
        return hits
