"""Each instance's ``max_concurrent_calls``, held around every HTTP call to it.

A call takes one of the instance's slots in the store (shared by every worker thread,
process and host) and gives it back when its answer is in. In a process, threads first
queue on a local semaphore of the same size, so at most ``limit`` of them poll the store
and a slot freed here passes to the next thread at once. A thread that has no slot after
``slot_wait_s`` raises ``InstanceBusy``: the runtime gives its message back to the broker
for a moment, and the worker thread is free for other instances' jobs.

Within ``keeping()`` (the runtime wraps each stage run in it) a thread keeps the slot it
took across its consecutive calls to the instance and gives it back when the block ends:
a stage of several calls takes one slot once (one store write each way, not one per call)
and, once it has made its first call, is never turned away halfway. A thread makes one
call at a time, so the instance still never sees more calls than slots.

A slot is taken for ``HOLD_S`` and renewed every third of it while its process holds it
(as job leases are); a killed worker's slots come back within ``HOLD_S``.
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
from dataclasses import dataclass
from datetime import timedelta

import structlog

from workers.config import InstanceProfile
from workers.errors import InstanceBusy
from workers.metrics import Metrics
from workers.store import Store

__all__ = ["HOLD_S", "InstanceSlots", "keeping", "slot_hold"]

_log = structlog.get_logger("twoway.slots")
_HOST = socket.gethostname()[:24]
_MARGIN_S = 5.0
HOLD_S = 10.0
_POLL_S = (0.005, 0.025)  # first and longest pause between looks (reads) at the store


@dataclass
class _Kept:
    gate: InstanceSlots
    slot: int
    owner: str
    reuse_until: float  # monotonic: after it, the slot's expiry may not cover another call


_kept = threading.local()  # .slots: instance name -> _Kept, inside keeping()


@contextmanager
def keeping() -> Iterator[None]:
    """Keep each slot this thread takes until the block ends (see the module's docstring)."""
    outer = getattr(_kept, "slots", None)
    _kept.slots = {}
    try:
        yield
    finally:
        held: dict[str, _Kept] = _kept.slots
        _kept.slots = outer
        for kept in held.values():
            try:
                kept.gate.give_back(kept.slot, kept.owner)
            except Exception:  # noqa: BLE001 - the slot comes back when its hold ends
                _log.warning("slot_give_back_failed", instance=kept.gate.name, exc_info=True)


def slot_hold(profile: InstanceProfile) -> timedelta:
    """How long a take holds a slot unless renewed (``HOLD_S``; renewed while held)."""
    del profile
    return timedelta(seconds=HOLD_S)


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
        self._held: dict[str, int] = {}  # owner -> slot, renewed by _renew_loop
        self._held_lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    def _track(self, slot: int, owner: str) -> None:
        with self._held_lock:
            self._held[owner] = slot
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_loop, daemon=True, name=f"slots-{self.name}"
                )
                self._renewer.start()

    def _renew_loop(self) -> None:
        while True:
            time.sleep(HOLD_S / 3)
            with self._held_lock:
                held = [(slot, owner) for owner, slot in self._held.items()]
            try:
                self._store.slots.renew(self.name, held, self._hold)
            except Exception:  # noqa: BLE001 - retried next round; the holds last HOLD_S
                _log.warning("slot_renewal_failed", instance=self.name, exc_info=True)

    @contextmanager
    def hold(self) -> Iterator[int]:
        """Hold a slot around one call; ``InstanceBusy`` when none is free in time."""
        kept_slots: dict[str, _Kept] | None = getattr(_kept, "slots", None)
        kept = kept_slots.get(self.name) if kept_slots is not None else None
        if kept_slots is not None and kept is not None and kept.gate is self:
            if time.monotonic() < kept.reuse_until:
                yield kept.slot
                return
            del kept_slots[self.name]
            self.give_back(kept.slot, kept.owner)
        slot, owner = self._wait_for_slot()
        if kept_slots is not None:
            reuse_until = time.monotonic() + _MARGIN_S
            kept_slots[self.name] = _Kept(self, slot, owner, reuse_until)
            yield slot
            return
        try:
            yield slot
        finally:
            self.give_back(slot, owner)

    def give_back(self, slot: int, owner: str) -> None:
        with self._held_lock:
            self._held.pop(owner, None)
        try:
            self._store.slots.give_back(self.name, slot, owner)
        finally:
            self._local.release()

    def _wait_for_slot(self) -> tuple[int, str]:
        started = time.monotonic()
        waiting = self._metrics.instance_slot_waiters.labels(self.name) if self._metrics else None
        if waiting is not None:
            waiting.inc()
        try:
            taken = self._take(started + self.wait_s)
        finally:
            if waiting is not None:
                waiting.dec()
        if self._metrics is not None:
            self._metrics.instance_slot_wait.labels(self.name).observe(time.monotonic() - started)
        return taken

    def _take(self, deadline: float) -> tuple[int, str]:
        if not self._local.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            self._busy()
        owner = f"{self._prefix}:{uuid.uuid4().hex[:12]}"
        pause = _POLL_S[0]
        try:
            while True:
                slot = self._store.slots.take(self.name, self.limit, owner, self._hold)
                if slot is not None:
                    self._track(slot, owner)
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
