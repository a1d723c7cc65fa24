"""The broker: RabbitMQ with publisher confirms, or dramatiq's in-process stub.

It is the only global (``dramatiq.set_broker``), and it is set here, once per process.

On RabbitMQ, dramatiq declares its queues itself (durable, with dead-letter arguments and
no ``x-queue-type``), so their type is the vhost's default queue type: quorum in a
deployment (``ops/rabbitmq/definitions.json``), classic on a bare broker. A queue that
already exists with the other type makes RabbitMQ refuse the declaration (406
PRECONDITION_FAILED, "inequivalent arg 'x-queue-type'"); ``queue_type_conflict``
(workers/machinery/nodes.py) turns that refusal into a ConfigError that says what to do
(docs/cluster.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import CurrentMessage, Middleware

from workers.errors import ConfigError
from workers.machinery.link import LinkedBroker
from workers.machinery.nodes import broker_urls, queue_type_conflict

__all__ = ["BrokerKind", "ensure_queues", "make_broker"]

BrokerKind = Literal["rabbitmq", "stub"]


def make_broker(
    kind: BrokerKind, url: str | None = None, *, extra: Sequence[Middleware] = ()
) -> dramatiq.Broker:
    """Build the broker, add the middleware twoway relies on (and ``extra``, the fault
    drills' when the assembly switches them on), and make it the global one.

    ``url`` may list several nodes (workers/machinery/nodes.py): dramatiq connects to
    the first that answers, and to the next one when that connection is lost.
    """
    broker: dramatiq.Broker
    if kind == "rabbitmq":
        broker = LinkedBroker(url=broker_urls(url or ""), confirm_delivery=True)
    elif kind == "stub":
        broker = StubBroker()
        broker.emit_after("process_boot")
    else:
        raise ConfigError(f"unknown broker {kind!r}", hint="use 'rabbitmq' or 'stub'")
    broker.add_middleware(CurrentMessage())
    for middleware in extra:
        broker.add_middleware(middleware)
    dramatiq.set_broker(broker)
    return broker


def ensure_queues(broker: dramatiq.Broker, queues: Iterable[str]) -> None:
    """Declare the queues now (not at the first message), failing clearly on a type clash.

    The connection this opens is closed before returning: the calling thread (a worker's
    main thread) publishes nothing afterwards, so nothing would answer its heartbeats and
    RabbitMQ would drop it, which pika reports as errors when it is finally closed.
    """
    try:
        for queue in queues:
            if isinstance(broker, RabbitmqBroker):
                broker.declare_queue(queue, ensure=True)
            else:
                broker.declare_queue(queue)
    except BrokerConnectionError as exc:
        conflict = queue_type_conflict(exc)
        if conflict is None:
            raise
        raise conflict from exc
    finally:
        if isinstance(broker, RabbitmqBroker):
            del broker.connection
