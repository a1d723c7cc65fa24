"""The broker link's back-off, without a broker: one probe at a time, delays doubling up to
the cap, one warning per failed probe, one line when the broker is back, and a worker that
stops is let go. The same link in a real outage: tests/ops/rabbitmq/test_worker_process.py."""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

from workers.machinery.link import MAX_RETRY_S, BrokerLink


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
