"""The broker link's back-off, without a broker: one probe at a time, delays doubling up to
the cap, one warning per failed probe, one line when the broker is back, and a worker that
stops is let go. The same link in a real outage: tests/ops/rabbitmq/test_worker_process.py."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import pytest
import structlog
from dramatiq import Message

from ops.rabbitmq.chores import delete_queues, queue_depths, stage_queue_names
from tests.conftest import AMQP_URL
from tests.ops.rabbitmq.cut_proxy import CutProxy
from workers.machinery.link import MAX_RETRY_S, BrokerLink, LinkedBroker
from workers.machinery.nodes import broker_urls


def test_one_thread_probes_with_doubling_capped_delays_and_all_resume() -> None:
    link = BrokerLink(first_s=0.01, cap_s=0.04)
    probes: list[float] = []

    def probe() -> bool:
        probes.append(time.monotonic())
        return len(probes) == 5

    link.lost(ConnectionError("cut"))
    with structlog.testing.capture_logs() as logs:
        threads = [threading.Thread(target=link.wait_until_up, args=(probe,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert link.up and len(probes) == 5  # six waiting threads, one probe at a time
    delays = [entry["retry_in_s"] for entry in logs if entry["event"] == "broker_unreachable"]
    assert delays == [0.01, 0.02, 0.04, 0.04]
    assert [entry["event"] for entry in logs][-1] == "broker_reconnected"
    assert MAX_RETRY_S == 30.0


def test_the_first_loss_is_reported_once() -> None:
    link = BrokerLink()
    with structlog.testing.capture_logs() as logs:
        for _ in range(18):
            link.lost(ConnectionError("Transport indicated EOF"))
    assert [(e["event"], e["log_level"]) for e in logs] == [("broker_connection_lost", "warning")]


def test_a_stopping_worker_stops_waiting() -> None:
    link = BrokerLink(first_s=60)
    link.lost(ConnectionError("cut"))
    answers: list[Any] = []
    waiting = threading.Thread(target=lambda: answers.append(link.wait_until_up(lambda: False)))
    waiting.start()
    link.stop()
    waiting.join(30)
    assert answers == [False]


def _next_message(consumer: Any) -> Any:
    while (message := next(consumer)) is None:
        pass
    return message


def test_a_message_of_a_lost_connection_is_not_settled_on_the_new_one() -> None:
    """Real RabbitMQ behind a proxy that is cut: the new channel's tags start at 1 again,
    so the old message's ack would have acked a new one (dramatiq's own consumer does)."""
    queue = f"twoway-test-{secrets.token_hex(4)}"
    proxy = CutProxy()
    broker = LinkedBroker(url=broker_urls(proxy.url), confirm_delivery=True)
    try:
        broker.declare_queue(queue, ensure=True)
        for n in range(2):
            broker.enqueue(
                Message(queue_name=queue, actor_name="a", args=(n,), kwargs={}, options={})
            )
        first = broker.consume(queue, prefetch=1, timeout=200)
        old = _next_message(first)
        proxy.cut()
        with pytest.raises(StopIteration):
            _next_message(first)  # the loss ends the consumer, it does not raise
        proxy.restore()
        second = broker.consume(queue, prefetch=1, timeout=200)  # waits for the link
        new = _next_message(second)
        assert new._tag == old._tag  # the collision this guards against
        second.ack(old)  # settles nothing: it came over the lost connection
        second.close()
        deadline = time.monotonic() + 10  # RabbitMQ requeues the unacked one on the close
        while queue_depths(AMQP_URL, [queue])[queue] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert queue_depths(AMQP_URL, [queue]) == {queue: 2}
    finally:
        broker.close()
        proxy.close()
        delete_queues(AMQP_URL, stage_queue_names([queue]))
