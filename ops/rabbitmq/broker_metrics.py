"""Metrics that need the broker, and metrics endpoints for processes without the gateway.

- ``DeadLetterCollector``: dead letters per stage and the time the oldest has left
  before RabbitMQ drops it (an alert on it is how the 7-day expiry is never suffered
  silently); read at scrape time by peeking the head of each ``.XQ`` queue.
- ``serve_worker_metrics``: a worker's registry plus dramatiq's own Prometheus
  middleware, on a port of its own (``twoway worker --metrics-port``). That endpoint has
  no token, so it listens on loopback unless told otherwise (``--metrics-host``) and
  carries no per-job label (job ids and certificate serials are for a ``read`` token, on
  the gateway's ``/metrics``). ``twoway_worker_broker_connected`` is 0 while the
  worker's link to RabbitMQ is down (workers/machinery/link.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pika
import pika.exceptions
import structlog
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from ops.rabbitmq.connection import open_connection
from ops.rabbitmq.dead_letters import DeadLetters
from workers.app import App
from workers.machinery.link import BrokerLink

__all__ = [
    "PER_JOB_LABELS",
    "DeadLetterCollector",
    "WithoutPerJobLabels",
    "serve_worker_metrics",
]

_log = structlog.get_logger("twoway.metrics")


class DeadLetterCollector(Collector):
    def __init__(self, dead: DeadLetters) -> None:
        self.dead = dead

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "twoway_dead_letters_up", "1 if the broker answered the dead-letter queries."
        )
        count = GaugeMetricFamily(
            "twoway_dead_letters", "Messages in each stage's dead-letter queue.", labels=["stage"]
        )
        left = GaugeMetricFamily(
            "twoway_dead_letter_expires_in_seconds",
            "Time the oldest dead letter of each stage has before RabbitMQ drops it.",
            labels=["stage"],
        )
        try:
            for stage, depth, expires_in in self._heads():
                count.add_metric([stage], depth)
                if expires_in is not None:
                    left.add_metric([stage], expires_in)
        except (pika.exceptions.AMQPError, OSError) as exc:
            _log.warning("dead_letter_metrics_unavailable", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, count, left)

    def _heads(self) -> Iterator[tuple[str, int, float | None]]:
        connection = open_connection(self.dead.url)
        try:
            for stage, queue in self.dead.queues():
                channel = connection.channel()
                try:
                    depth = channel.queue_declare(queue, passive=True).method.message_count
                except pika.exceptions.ChannelClosedByBroker:
                    yield stage.value, 0, None  # never declared: no dead letters
                    continue
                head = next(self.dead.read(channel, queue, stage, 1), None) if depth else None
                channel.close()  # the head goes back where it was
                yield stage.value, depth, head[1].expires_in_s if head else None
        finally:
            connection.close()


PER_JOB_LABELS = frozenset({"job_id", "serial"})


class WithoutPerJobLabels(Collector):
    """A registry's metrics, less every sample that names a job or a certificate."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for metric in self.registry.collect():
            samples = [s for s in metric.samples if not PER_JOB_LABELS & s.labels.keys()]
            if samples or not metric.samples:
                metric.samples = samples
                yield metric


def serve_worker_metrics(app: App, port: int, host: str = "127.0.0.1") -> None:
    """Expose this worker's registry and dramatiq's middleware metrics on ``port``."""
    from dramatiq.middleware.prometheus import Prometheus

    middleware = Prometheus()
    app.broker.add_middleware(middleware)
    # our worker is not forked by dramatiq's CLI, which would run this hook
    middleware.after_process_boot(app.broker)  # type: ignore[no-untyped-call]
    registry = app.deps.metrics.registry
    link = getattr(app.broker, "link", None)
    if isinstance(link, BrokerLink):  # readiness: 0 while the broker is away
        Gauge(
            "twoway_worker_broker_connected",
            "1 while this worker's consumers are connected to RabbitMQ, 0 while it is away.",
            registry=registry,
        ).set_function(lambda: float(link.up))
    for value in vars(middleware).values():
        if isinstance(value, MetricWrapperBase):
            registry.register(value)
    public = CollectorRegistry(auto_describe=False)
    public.register(WithoutPerJobLabels(registry))
    start_http_server(port, addr=host, registry=public)
    _log.info("metrics_serving", host=host, port=port)
