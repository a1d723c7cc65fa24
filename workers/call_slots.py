"""Each instance's ``max_concurrent_calls``, held around every HTTP call to it.

A call takes one of the instance's slots in the store (shared by every worker thread,
process and host) and gives it back when its answer is in. In a process, threads first
queue on a local semaphore of the same size, so at most ``limit`` of them poll the store
and a slot freed here passes to the next thread at once. A thread that has no slot after
``slot_wait_s`` raises ``InstanceBusy``: the runtime gives its message back to the broker
for a moment, and the worker thread is free for other instances' jobs.

A slot is held for at most the call's timeouts plus a margin; a killed worker's slots come
back when that time has passed.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import structlog

from .config import InstanceProfile
from .errors import InstanceBusy
from .metrics import Metrics
from .store import Store

__all__ = ["InstanceSlots", "slot_hold"]

_log = structlog.get_logger("twoway.slots")
_HOST = socket.gethostname()[:24]
_MARGIN_S = 5.0
_POLL_S = (0.01, 0.1)  # first and longest pause between looks at the store


def slot_hold(profile: InstanceProfile) -> timedelta:
    """How long a call may hold a slot: its connect and read timeouts, and a margin."""
    return timedelta(seconds=profile.connect_timeout_s + profile.read_timeout_s + _MARGIN_S)


class InstanceSlots:
    """The call gate of one instance profile (see the module's docstring)."""

    def __init__(
        self, name: str, profile: InstanceProfile, store: Store, metrics: Metrics | None = None
    ) -> None:
        self.name = name
        self.limit = profile.max_concurrent_calls
        self.wait_s = profile.slot_wait_s
        self._hold = slot_hold(profile)
        self._store = store
        self._metrics = metrics
        self._local = threading.BoundedSemaphore(self.limit)
        self._prefix = f"{_HOST}:{os.getpid()}"

    @contextmanager
    def hold(self) -> Iterator[int]:
        """Hold a slot around one call; ``InstanceBusy`` when none is free in time."""
        started = time.monotonic()
        deadline = started + self.wait_s
        waiting = self._metrics.instance_slot_waiters.labels(self.name) if self._metrics else None
        if waiting is not None:
            waiting.inc()
        try:
            slot, owner = self._take(deadline)
        finally:
            if waiting is not None:
                waiting.dec()
        if self._metrics is not None:
            self._metrics.instance_slot_wait.labels(self.name).observe(time.monotonic() - started)
        try:
            yield slot
        finally:
            try:
                self._store.slots.give_back(self.name, slot, owner)
            finally:
                self._local.release()

    def _take(self, deadline: float) -> tuple[int, str]:
        if not self._local.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            self._busy()
        owner = f"{self._prefix}:{uuid.uuid4().hex[:12]}"
        pause = _POLL_S[0]
        try:
            while True:
                slot = self._store.slots.take(self.name, self.limit, owner, self._hold)
                if slot is not None:
                    return slot, owner
                if time.monotonic() + pause > deadline:
                    self._busy()
                time.sleep(pause * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                pause = min(pause * 2, _POLL_S[1])
        except BaseException:
            self._local.release()
            raise

    def _busy(self) -> None:
        if self._metrics is not None:
            self._metrics.instance_busy.labels(self.name).inc()
        _log.info("instance_busy", instance=self.name, limit=self.limit)
        raise InstanceBusy(self.name, limit=self.limit, retry_in_s=min(max(self.wait_s, 0.2), 2))
