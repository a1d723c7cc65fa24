"""What the intake and the relay share: a daemon thread that holds one AMQP channel,
declares the topology on every (re)connect, and backs off while the broker is away."""

from __future__ import annotations

import threading

import structlog
from pika.adapters.blocking_connection import BlockingChannel

from ops.rabbitmq.connection import CONNECTION_ERRORS, Topology, connect, declare

__all__ = ["BridgeLoop"]

FIRST_RETRY_S = 0.5
LAST_RETRY_S = 10.0


class BridgeLoop:
    """Subclasses name themselves and define ``serve(channel, stop)``; ``run(stop)`` in
    the foreground (``twoway intake``/``relay``) or ``start()`` in a thread (a stack)."""

    name = "bridge"

    def __init__(self, url: str, topology: Topology) -> None:
        self.url = url
        self.topology = topology
        self.connects = 0
        self._log = structlog.get_logger(f"twoway.{self.name}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def serve(self, channel: BlockingChannel, stop: threading.Event) -> None:
        raise NotImplementedError

    def on_connect(self, channel: BlockingChannel) -> None:
        """After the topology is declared, before serving (e.g. the prefetch)."""

    def on_exit(self) -> None:
        """When ``run`` ends (e.g. hand a lease back)."""

    def start(self) -> BridgeLoop:
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), daemon=True, name=f"twoway-{self.name}"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set; a lost broker means reconnecting after a growing wait."""
        backoff = FIRST_RETRY_S
        while not stop.is_set():
            try:
                with connect(self.url) as channel:
                    declare(channel, self.topology)
                    self.on_connect(channel)
                    self.connects += 1
                    self._log.info(
                        f"{self.name}_connected",
                        queue=self.topology.jobs_queue,
                        exchange=self.topology.events_exchange,
                    )
                    backoff = FIRST_RETRY_S
                    self.serve(channel, stop)
            except CONNECTION_ERRORS as exc:
                self._log.warning(
                    f"{self.name}_disconnected", error=type(exc).__name__, retry_s=backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, LAST_RETRY_S)
            except Exception:  # noqa: BLE001 - the store away, a bug: log, wait, go on
                self._log.exception(f"{self.name}_failed", retry_s=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, LAST_RETRY_S)
        self.on_exit()
