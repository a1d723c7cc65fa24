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
from workers.store.progress import Progress

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

    def track(self, job_id: str, owner: str, stage: Stage) -> None:
        """Renew this run's lease (taken in ``Store.begin_stage``) while it lives."""
        with self._lock:
            self._held[(job_id, owner)] = stage
            self._ensure_thread()

    def untrack(self, job_id: str, owner: str, *, freed: bool) -> None:
        """Stop renewing; free the lease unless the run's outcome already did."""
        with self._lock:
            self._held.pop((job_id, owner), None)
        if not freed:
            self._progress.release(job_id, owner)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._renew_loop, daemon=True, name="leases")
            self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._every):
            with self._lock:
                held = dict(self._held)
            for (job_id, owner), _stage in held.items():
                try:  # extend only: a lease the run's outcome freed must stay free
                    self._progress.renew(job_id, owner, self.duration)
                except Exception:  # noqa: BLE001 - a failed renewal is retried next round
                    _log.warning("lease_renewal_failed", job_id=job_id, exc_info=True)

    def stop(self) -> None:
        self._stop.set()
