"""The AMQP side of a stack on real RabbitMQ: when ``Messaging.start()`` returns, a workflow
can bind to the events exchange and publish to the jobs queue at once (the intake and relay
threads connect later, in their own time)."""

from __future__ import annotations

from collections.abc import Iterator

import pika
import pytest

from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.rabbitmq.bridges import Messaging
from tests.conftest import AMQP_URL


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


@pytest.mark.parametrize("round_", range(5))
def test_the_exchange_and_queue_exist_when_start_returns(stack: RunningStack, round_: int) -> None:
    # the workflow's connection is open before the stack's messaging starts, so its first
    # frame after start() returns is not slowed by a handshake the threads are also doing
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    messaging = Messaging(stack.app, AMQP_URL)
    messaging.start()
    try:
        channel.exchange_declare(messaging.topology.events_exchange, passive=True)
        channel.queue_declare(messaging.topology.jobs_queue, passive=True)
    finally:
        messaging.stop()
        if connection.is_open:
            connection.close()
    after = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="NOT_FOUND"):
            after.channel().exchange_declare(messaging.topology.events_exchange, passive=True)
    finally:
        after.close()
