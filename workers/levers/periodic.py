"""A task that runs every so often in a daemon thread: the poller, sweeper and scheduler."""

from __future__ import annotations

import threading

import structlog

__all__ = ["Periodic"]

_log = structlog.get_logger("twoway.periodic")


class Periodic:
    """Subclasses define ``run_once``; a failed round is logged and the next one tries."""

    name = "periodic"
    every_s = 30.0

    def __init__(self) -> None:
        self._stop = threading.Event()

    def run_once(self) -> object:
        raise NotImplementedError

    def run_forever(self, every_s: float | None = None) -> None:
        while not self._stop.wait(every_s or self.every_s):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the next round tries again
                _log.exception(f"{self.name}_round_failed")

    def start(self, every_s: float | None = None) -> threading.Thread:
        thread = threading.Thread(
            target=self.run_forever, args=(every_s,), daemon=True, name=f"twoway-{self.name}"
        )
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
