"""AMQP for the processes that talk to foreign systems: the intake and the events relay.

Plain pika, not dramatiq: the other side is a workflow engine, not one of our actors.
Every channel here runs with publisher confirms, so a publish returns only once RabbitMQ
has taken the message (or raises). The topology, named after the queue prefix:

- ``<prefix>.jobs``: a durable queue of job requests (the same JSON as ``POST /v1/jobs``);
- ``<prefix>.events``: a durable topic exchange of job events (``job.<state>``, and
  ``job.<state>.<kind>`` for events that do not change the state) and of refusals
  (``job.refused``) for requests that came without a ``reply_to``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from workers.config import PipelineConfig
from workers.machinery.nodes import node_parameters

__all__ = [
    "CONNECTION_ERRORS",
    "Topology",
    "connect",
    "declare",
    "open_connection",
    "publish_json",
    "topology_of",
]

# What a lost broker looks like to a blocking pika client: reconnect and go on.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.AMQPChannelError,
    pika.exceptions.StreamLostError,
    ConnectionError,
    OSError,
)


@dataclass(frozen=True)
class Topology:
    jobs_queue: str
    events_exchange: str


def topology_of(config: PipelineConfig) -> Topology:
    prefix = config.broker.queue_prefix
    return Topology(jobs_queue=f"{prefix}.jobs", events_exchange=f"{prefix}.events")


def declare(channel: BlockingChannel, topology: Topology) -> None:
    """Idempotent: the same arguments as ops/rabbitmq/definitions.json."""
    channel.exchange_declare(topology.events_exchange, exchange_type="topic", durable=True)
    channel.queue_declare(topology.jobs_queue, durable=True)


def open_connection(url: str) -> pika.BlockingConnection:
    """A blocking connection to the first of the nodes in ``url`` that answers.

    ``url`` is ``TWOWAY_BROKER_URL``: one node or several (workers/machinery/nodes.py,
    which also sets the heartbeat and the timeouts every twoway connection uses).
    """
    return pika.BlockingConnection(node_parameters(url))


@contextmanager
def connect(url: str) -> Iterator[BlockingChannel]:
    """One connection with one channel in confirm mode; closed on the way out."""
    connection = open_connection(url)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        yield channel
    finally:
        if connection.is_open:
            with suppress(*CONNECTION_ERRORS):
                connection.close()


def publish_json(
    channel: BlockingChannel,
    exchange: str,
    routing_key: str,
    body: Mapping[str, Any],
    *,
    message_id: str | None = None,
    correlation_id: str | None = None,
    kind: str | None = None,
    headers: Mapping[str, Any] | None = None,
    mandatory: bool = False,
) -> None:
    """Publish persistently and wait for the broker's confirm (raises if refused)."""
    properties = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=message_id,
        correlation_id=correlation_id,
        type=kind,
        timestamp=int(datetime.now(UTC).timestamp()),
        headers=dict(headers) if headers else None,
    )
    data = json.dumps(body, default=str, separators=(",", ":")).encode()
    channel.basic_publish(exchange, routing_key, data, properties, mandatory=mandatory)
