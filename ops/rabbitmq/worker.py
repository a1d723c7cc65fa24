"""``twoway worker``: a worker process on RabbitMQ for some or all stages."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import dramatiq
import structlog

from messages import Stage
from ops.rabbitmq.reachability import require_broker
from workers.app import build_app
from workers.config import Settings, load_config
from workers.errors import ConfigError
from workers.levers.notifier import Notifier
from workers.levers.revoker import Revoker
from workers.levers.sweeper import Sweeper
from workers.logs import configure_logging
from workers.machinery.broker import ensure_queues

__all__ = ["run_worker"]


def _log_stream() -> TextIO | None:
    path = os.environ.get("TWOWAY_LOG_FILE")
    return Path(path).open("a", buffering=1, encoding="utf-8") if path else None


def run_worker(
    stages: Sequence[str] = (),
    threads: int = 4,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> int:
    configure_logging(
        stream=_log_stream(), json=True if os.environ.get("TWOWAY_LOG_FILE") else None
    )
    log = structlog.get_logger("twoway.worker")
    unknown = [s for s in stages if s not in {stage.value for stage in Stage}]
    if unknown:
        raise ConfigError(
            f"--stages: unknown stage(s) {unknown}", hint=f"stages: {[s.value for s in Stage]}"
        )
    settings = Settings.from_environment()
    require_broker(settings.broker_url)  # one line and exit 2, not a stream of retries
    app = build_app(load_config(), settings, broker="rabbitmq")
    queues = {r.queue for r in app.runtime.routes if not stages or r.stage.value in stages}
    # Idle consumers wake every 2 s, not every second: half the CPU a quiet worker burns;
    # messages still arrive at once, and a delayed retry is at most 2 s late.
    ensure_queues(app.broker, sorted(queues))  # a queue of the wrong type fails here, clearly
    worker = dramatiq.Worker(app.broker, queues=queues, worker_threads=threads, worker_timeout=2000)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    if metrics_port is not None:  # before the worker starts: dramatiq's middleware too
        from ops.rabbitmq.broker_metrics import serve_worker_metrics

        serve_worker_metrics(app, metrics_port, host=metrics_host)
    worker.start()
    sweeper = Sweeper(app.runtime)
    sweeper.start()
    # Revocations and notifications: one of each at a time across workers (their cursors).
    revoker, notifier = Revoker(app.deps), Notifier(app.store, app.config, app.deps.environ)
    revoker.start()
    notifier.start()
    log.info("worker_started", queues=sorted(queues), threads=threads, pid=os.getpid())
    if app.settings.chaos:
        log.warning("chaos_enabled", chaos=list(app.settings.chaos))
    stopping.wait()
    log.info("worker_stopping")
    for lever in (sweeper, revoker, notifier):
        lever.stop()
    worker.stop(timeout=10_000)
    app.close()
    log.info("worker_stopped")
    return 0
