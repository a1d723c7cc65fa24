"""The broker: RabbitMQ with publisher confirms, or dramatiq's in-process stub.

It is the only global (``dramatiq.set_broker``), and it is set here, once per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Middleware

from workers.errors import ConfigError

__all__ = ["BrokerKind", "make_broker"]

BrokerKind = Literal["rabbitmq", "stub"]


def make_broker(
    kind: BrokerKind, url: str | None = None, *, extra: Sequence[Middleware] = ()
) -> dramatiq.Broker:
    """Build the broker, add the middleware twoway relies on (and ``extra``, the fault
    drills' when the assembly switches them on), and make it the global one."""
    broker: dramatiq.Broker
    if kind == "rabbitmq":
        if not url or not url.startswith(("amqp://", "amqps://")):
            raise ConfigError(
                "TWOWAY_BROKER_URL must be an amqp:// or amqps:// URL",
                hint="for example amqp://guest:guest@127.0.0.1:5672",
            )
        broker = RabbitmqBroker(url=url, confirm_delivery=True)
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
