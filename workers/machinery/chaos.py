"""Chaos for fault drills and tests, switched on with TWOWAY_CHAOS (comma-separated).

- ``duplicate-deliveries``: every stage message is enqueued twice, as RabbitMQ may
  deliver it twice (a publisher retry after a lost confirm, a consumer that died before
  its ack). The pipeline must leave exactly one of everything regardless.
- ``slow-stage:<stage>:<seconds>``: the stage's core sleeps first, so that a drill can
  kill a worker while that stage is in progress.
- ``crash-before-record:<stage>``: the worker process kills itself (SIGKILL) right after
  the stage's core finished (its ServiceNow calls answered) and before the result is
  recorded; once per job, so the redelivery can finish it.
- ``crash-after-finalize``: the worker process kills itself (SIGKILL) right after an ACME
  CA accepted an order's finalize, before anything about it is stored; once per order
  (a marker file under the state directory), so the redelivery can finish it.
- ``lose-messages:<stage>:<n>``: the first ``n`` messages for the stage (in this
  process) are dropped unprocessed (acked), as a message lost between sender and worker
  would be; its job stalls until the sweeper re-sends or an operator replays.

Never enable these in production; the worker logs a warning when one is on.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from messages import Stage, StageMessage
from workers.errors import ConfigError
from workers.machinery.context import StageContext
from workers.machinery.core import Paused, StageCore

__all__ = [
    "DuplicateDeliveries",
    "LoseMessages",
    "chaos_middleware",
    "crash_after_finalize",
    "wrap_cores",
]

_MARK = "twoway_duplicate"
KNOWN = (
    "duplicate-deliveries",
    "slow-stage:<stage>:<seconds>",
    "crash-before-record:<stage>",
    "crash-after-finalize",
    "lose-messages:<stage>:<n>",
)


class DuplicateDeliveries(Middleware):
    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        if delay or message.options.get(_MARK):
            return
        broker.enqueue(message.copy(options={_MARK: True}))


class LoseMessages(Middleware):
    """Drop the first ``count`` messages for ``stage`` in this process (chaos)."""

    def __init__(self, stage: str, count: int) -> None:
        self.stage, self.count, self.lost = stage, count, 0
        self._lock = threading.Lock()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if message.actor_name != self.stage:
            return
        with self._lock:
            if self.lost >= self.count:
                return
            self.lost += 1
        raise SkipMessage(f"chaos: lost message {message.message_id} for {self.stage}")


def _parse(name: str) -> tuple[str, list[str]]:
    kind, *params = name.split(":")
    shapes = {
        "duplicate-deliveries": 0,
        "slow-stage": 2,
        "crash-before-record": 1,
        "crash-after-finalize": 0,
        "lose-messages": 2,
    }
    if kind not in shapes or len(params) != shapes[kind]:
        raise ConfigError(f"TWOWAY_CHAOS: cannot use {name!r}", hint=f"known: {list(KNOWN)}")
    if kind == "lose-messages" and not params[1].isdigit():
        raise ConfigError(f"TWOWAY_CHAOS: {name!r}: the count must be a whole number")
    if params and params[0] not in {s.value for s in Stage}:
        raise ConfigError(f"TWOWAY_CHAOS: {params[0]!r} is not a stage")
    return kind, params


def chaos_middleware(names: tuple[str, ...]) -> list[Middleware]:
    parsed = [_parse(name) for name in names]
    found: list[Middleware] = [
        DuplicateDeliveries() for kind, _ in parsed if kind == "duplicate-deliveries"
    ]
    found += [LoseMessages(p[0], int(p[1])) for kind, p in parsed if kind == "lose-messages"]
    return found


def _slow(core: StageCore, seconds: float) -> StageCore:
    def slow(msg: StageMessage, ctx: StageContext) -> StageMessage | Paused:
        time.sleep(seconds)
        return core(msg, ctx)

    return slow


def _crash_once(core: StageCore, stage: str) -> StageCore:
    def crash(msg: StageMessage, ctx: StageContext) -> StageMessage | Paused:
        result = core(msg, ctx)
        marker = f"chaos:crashed:{stage}"
        if ctx.keep(marker, str(os.getpid()).encode()) == str(os.getpid()).encode():
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    return crash


def wrap_cores(cores: Mapping[Stage, StageCore], names: tuple[str, ...]) -> dict[Stage, StageCore]:
    wrapped = dict(cores)
    for kind, params in (_parse(name) for name in names):
        if kind == "slow-stage":
            stage = Stage(params[0])
            wrapped[stage] = _slow(wrapped[stage], float(params[1]))
        elif kind == "crash-before-record":
            stage = Stage(params[0])
            wrapped[stage] = _crash_once(wrapped[stage], stage.value)
    return wrapped


def crash_after_finalize(names: tuple[str, ...], state_dir: Path) -> Callable[[str], None] | None:
    """What an ACME adapter calls after a finalize, when ``crash-after-finalize`` is on."""
    if "crash-after-finalize" not in [_parse(name)[0] for name in names]:
        return None
    markers = state_dir / "chaos-finalized"

    def crash(order_url: str) -> None:
        markers.mkdir(parents=True, exist_ok=True)
        marker = markers / hashlib.sha256(order_url.encode()).hexdigest()
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)

    return crash
