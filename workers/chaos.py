"""Chaos for fault drills and tests, switched on with TWOWAY_CHAOS (comma-separated).

- ``duplicate-deliveries``: every stage message is enqueued twice, as RabbitMQ may
  deliver it twice (a publisher retry after a lost confirm, a consumer that died before
  its ack). The pipeline must leave exactly one of everything regardless.

Never enable these in production; the worker logs a warning when one is on.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from .errors import ConfigError

__all__ = ["CHAOS", "DuplicateDeliveries", "chaos_middleware"]

_MARK = "twoway_duplicate"


class DuplicateDeliveries(Middleware):
    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        if delay or message.options.get(_MARK):
            return
        broker.enqueue(message.copy(options={_MARK: True}))


CHAOS: dict[str, type[Middleware]] = {"duplicate-deliveries": DuplicateDeliveries}


def chaos_middleware(names: tuple[str, ...]) -> list[Middleware]:
    unknown = [name for name in names if name not in CHAOS]
    if unknown:
        raise ConfigError(f"TWOWAY_CHAOS: unknown {unknown}", hint=f"known: {sorted(CHAOS)}")
    return [CHAOS[name]() for name in names]
