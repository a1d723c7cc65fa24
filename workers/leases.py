"""Leases that outlive a slow stage but not a dead worker.

A run takes its job's lease for a short time (``duration``) and a keeper thread renews
the leases of every run in flight in this process. When a worker is killed, renewals
stop and its lease ends within ``duration``: the redelivered message can then take over,
instead of waiting for the stage's whole time limit.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import structlog

from messages import Stage

from .store import LeaseHeld
from .store.progress import Progress

__all__ = ["LeaseKeeper"]

_log = structlog.get_logger("twoway.leases")


class LeaseKeeper:
    def __init__(self, progress: Progress, *, duration: timedelta, renew_every: float) -> None:
        self._progress = progress
        self.duration = duration
        self._every = renew_every
        self._held: dict[tuple[str, str], Stage] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def acquire(self, job_id: str, stage: Stage, owner: str) -> LeaseHeld | None:
        held = self._progress.acquire(job_id, stage, owner, self.duration)
        if held is None:
            with self._lock:
                self._held[(job_id, owner)] = stage
                self._ensure_thread()
        return held

    def release(self, job_id: str, owner: str) -> None:
        with self._lock:
            self._held.pop((job_id, owner), None)
        self._progress.release(job_id, owner)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._renew_loop, daemon=True, name="leases")
            self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._every):
            with self._lock:
                held = dict(self._held)
            for (job_id, owner), stage in held.items():
                try:
                    self._progress.acquire(job_id, stage, owner, self.duration)
                except Exception:  # noqa: BLE001 - a failed renewal is retried next round
                    _log.warning("lease_renewal_failed", job_id=job_id, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
