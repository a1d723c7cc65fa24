"""A worker's link to RabbitMQ: one report when it is lost, one probe at a time while it
is away (exponential back-off, capped), one report when it is back.

dramatiq's consumer threads (one per queue and one per delay queue: 18 for the nine
stages) each restart their consumer every 3 s while the broker is away, and each restart
logs a CRITICAL line, an INFO line and six pika ERROR lines: about a thousand lines in a
20 s outage. ``LinkedBroker`` keeps dramatiq's loop and changes what it calls:

- a consumer whose connection is lost ends quietly (no exception for the thread to log)
  and says so once for the whole process (``broker_connection_lost``, warning);
- ``consume`` waits on the shared :class:`BrokerLink` while the broker is away: one thread
  at a time opens a connection, 1, 2, 4 ... up to 30 s apart, one ``broker_unreachable``
  warning per attempt; on success ``broker_reconnected`` (info) and every consumer
  thread connects again at once;
- a worker that stops meanwhile gets an idle consumer, so its threads end;
- a publish on a connection the broker dropped while the worker was idle is published
  again on a new one without pika's error lines (``enqueue``).

Messages in flight on a lost connection were not acknowledged: RabbitMQ delivers them
again. ``BrokerLink.up`` is what the worker's metrics port reports
(``twoway_worker_broker_connected``).
"""

from __future__ import annotations

import threading
import time
from queue import PriorityQueue
from typing import Any

import pika
import structlog
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.rabbitmq import RabbitmqBroker, _RabbitmqConsumer
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from dramatiq.middleware import Middleware
from dramatiq.worker import ConsumerThread

from workers.logs import quiet_pika

__all__ = ["BrokerLink", "LinkedBroker"]

_log = structlog.get_logger("twoway.broker")

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0
_POLL_S = 0.5  # how often a waiting consumer thread looks whether the worker is stopping


class BrokerLink:
    """Whether the broker is reachable, shared by a process's consumer threads."""

    def __init__(self, *, first_s: float = FIRST_RETRY_S, cap_s: float = MAX_RETRY_S) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self.up = True
        self._cond = threading.Condition()
        self._probing = False
        self._stopping = False
        self._attempts = 0
        self._lost_at = 0.0
        self._next_at = 0.0

    def lost(self, error: BaseException) -> None:
        """A connection failed: the first report of an outage is logged, the rest join it."""
        with self._cond:
            if not self.up:
                return
            self.up = False
            self._attempts = 0
            self._lost_at = self._next_at = time.monotonic()
        _log.warning("broker_connection_lost", error=_reason(error))

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def wait_until_up(self, probe: Any) -> bool:
        """Block until the broker is back (True) or the worker stops (False); the thread
        whose turn it is calls ``probe()`` (True when a connection opened)."""
        while True:
            with self._cond:
                if self._stopping:
                    return False
                if self.up:
                    return True
                wait = self._next_at - time.monotonic()
                if self._probing or wait > 0:
                    self._cond.wait(min(_POLL_S, max(wait, 0.0)) or _POLL_S)
                    continue
                self._probing = True
            reached = probe()
            with self._cond:
                self._probing = False
                self._attempts += 1
                if reached:
                    self.up = True
                    self._cond.notify_all()
                    down_s = round(time.monotonic() - self._lost_at, 1)
                    _log.info("broker_reconnected", down_s=down_s, attempts=self._attempts)
                    return True
                delay = min(self.cap_s, self.first_s * 2 ** (self._attempts - 1))
                self._next_at = time.monotonic() + delay
            _log.warning("broker_unreachable", attempt=self._attempts, retry_in_s=delay)


class _StopLink(Middleware):
    def __init__(self, link: BrokerLink) -> None:
        self.link = link

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self.link.stop()


class LinkedBroker(RabbitmqBroker):
    """dramatiq's RabbitMQ broker whose consumers share a :class:`BrokerLink`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.link = BrokerLink()
        self.add_middleware(_StopLink(self.link))

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        while self.link.wait_until_up(self._probe):
            try:
                with quiet_pika():
                    return _LinkedConsumer(self, queue_name, prefetch, timeout)
            except ConnectionClosed as exc:
                self.link.lost(exc)
        return _Idle()

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """Publish as dramatiq does. A thread's publisher connection sits unattended between
        messages, misses its heartbeats and is dropped by the broker when the worker was
        idle a while: the first publish on it fails, and dramatiq opens a new connection
        and publishes again (up to 6 attempts). That is no failure, so pika's error lines
        for the dropped connection are not logged; when every attempt fails,
        ConnectionClosed reaches the caller (``send_or_defer``) as before."""
        with quiet_pika():
            return super().enqueue(message, delay=delay)

    def close(self) -> None:
        """Close every connection; one the broker dropped while it sat idle (a publisher's,
        unattended between messages, misses its heartbeats) is closed without pika's
        error lines: at shutdown that is no failure."""
        with quiet_pika():
            super().close()

    def _probe(self) -> bool:
        try:
            with quiet_pika():
                pika.BlockingConnection(self.parameters).close()
        except (pika.exceptions.AMQPError, OSError):
            return False
        return True


class _LinkedConsumer(_RabbitmqConsumer):
    """dramatiq's consumer, whose lost connection ends it quietly (see the module), and
    which settles only the messages it delivered itself.

    Delivery tags count from 1 on every channel: a worker thread that finishes a message
    of the lost connection after the reconnect would otherwise ack whichever new message
    got the same tag (RabbitMQ delivers the old one again anyway).
    """

    broker: LinkedBroker

    def __init__(self, broker: LinkedBroker, queue_name: str, prefetch: int, timeout: int):
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self._delivered: dict[int, MessageProxy] = {}

    def ack(self, message: MessageProxy) -> None:
        if self._delivered.pop(message._tag, None) is message:
            super().ack(message)  # type: ignore[no-untyped-call]

    def nack(self, message: MessageProxy) -> None:
        if self._delivered.pop(message._tag, None) is message:
            super().nack(message)  # type: ignore[no-untyped-call]

    def __next__(self) -> MessageProxy | None:
        try:
            with quiet_pika():
                message = super().__next__()  # type: ignore[no-untyped-call]
        except ConnectionClosed as exc:
            self.broker.link.lost(exc)
            thread = threading.current_thread()
            if isinstance(thread, ConsumerThread):
                # As dramatiq does on a connection error: delayed messages of the lost
                # connection are delivered again, not re-sent from memory.
                thread.delay_queue = PriorityQueue()
            raise StopIteration from None
        if message is not None:
            self._delivered[message._tag] = message
        return message  # type: ignore[no-any-return]

    def close(self) -> None:
        with quiet_pika():
            super().close()  # type: ignore[no-untyped-call]


class _Idle(Consumer):
    """A consumer for a worker that stopped while the broker was away: no messages."""

    def ack(self, message: MessageProxy) -> None:
        pass

    def nack(self, message: MessageProxy) -> None:
        pass

    def requeue(self, messages: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __next__(self) -> MessageProxy | None:
        return None


def _reason(error: BaseException) -> str:
    cause = getattr(error, "message", error)
    text = str(cause)
    return type(cause).__name__ + (f": {text[:120]}" if text else "")
