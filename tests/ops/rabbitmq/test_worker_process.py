"""``twoway worker`` on the machine's RabbitMQ, with a queue prefix of its own (a stack's):
a normal stop logs nothing at warning or above, and an outage of the broker after start is
ridden out with a few warnings (back-off), readiness 0 on the metrics port, and the work
picked up again when the broker is back. The outage is a proxy cut, never the broker."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from messages import KeyType
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.conftest import AMQP_URL
from tests.ops.rabbitmq.cut_proxy import CutProxy

_LOUD = {"warning", "error", "critical", "exception"}


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="rabbitmq", worker_processes=0)) as running:
        yield running


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(what: str, predicate: Callable[[], object], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class _Worker:
    """A ``twoway worker`` process of the stack, logging JSON lines to its own file."""

    def __init__(self, stack: RunningStack, tmp: Path, broker_url: str, *extra: str) -> None:
        self.log = tmp / "worker.log"
        env = {
            **stack.worker_environment(),
            "TWOWAY_BROKER_URL": broker_url,
            "TWOWAY_LOG_FILE": str(self.log),
        }
        command = [sys.executable, "-m", "ops", "worker", "--threads", "2", *extra]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        _wait_for("worker_started", lambda: self.events("worker_started"))

    def lines(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == name]

    def stop(self, how: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(how)
        _, stderr = self.process.communicate(timeout=60)
        return self.process.returncode, stderr


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_normal_stop_logs_nothing_above_info(
    stack: RunningStack, tmp_path: Path, how: signal.Signals
) -> None:
    """The connection that declared the queues used to sit idle until RabbitMQ dropped it
    for missed heartbeats (after 6 s here, 20 s by default); closing it at the stop logged
    five pika ERROR lines and a traceback."""
    worker = _Worker(stack, tmp_path, f"{AMQP_URL}?heartbeat=3")
    time.sleep(10)  # past two missed heartbeats: RabbitMQ has dropped the idle one
    code, stderr = worker.stop(how)
    assert code == 0, stderr
    lines = worker.lines()
    loud = [line for line in lines if line["level"] in _LOUD or "exception" in line]
    assert loud == []
    assert [line["event"] for line in lines][-1] == "worker_stopped"
    assert "Traceback" not in stderr + worker.log.read_text()


def _connected(port: int) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("twoway_worker_broker_connected "):
            return float(line.split()[1])
    return None


def test_a_broker_outage_is_ridden_out_with_backoff_and_reported(
    stack: RunningStack, tmp_path: Path
) -> None:
    proxy = CutProxy()
    port = _free_port()
    worker = _Worker(stack, tmp_path, proxy.url, "--metrics-port", str(port))
    try:
        assert _connected(port) == 1.0
        before = len(worker.lines())
        proxy.cut()
        _wait_for("the worker to notice", lambda: worker.events("broker_connection_lost"))
        _wait_for("readiness 0", lambda: _connected(port) == 0.0)
        time.sleep(20)
        during = worker.lines()[before:]
        proxy.restore()
        back = time.monotonic()
        _wait_for("broker_reconnected", lambda: worker.events("broker_reconnected"))
        reconnected_s = time.monotonic() - back
        assert _connected(port) == 1.0
        headers = {"Authorization": f"Bearer {stack.token}"}
        job = stack.example_job(KeyType.EC256)
        accepted = httpx.post(f"{stack.gateway.url}/v1/jobs", json=job, headers=headers, timeout=30)
        assert accepted.status_code == 202, accepted.text
        url = f"{stack.gateway.url}/v1/jobs/{accepted.json()['job_id']}"
        _wait_for(
            "the job",
            lambda: httpx.get(url, headers=headers, timeout=10).json()["state"] == "succeeded",
        )
        print(
            f"\noutage 20 s: {len(during)} log lines; reconnected {reconnected_s:.1f} s after"
            f" the broker came back; job done {time.monotonic() - back:.1f} s after"
        )
    finally:
        code, stderr = worker.stop()
        proxy.close()
    events = [line["event"] for line in during]
    assert events.count("broker_connection_lost") == 1
    assert 1 <= events.count("broker_unreachable") <= 10
    assert [line for line in during if line["level"] in {"error", "critical"}] == []
    assert len(during) <= 40  # 18 consumer threads say once that they restart (dramatiq)
    assert len(worker.events("broker_reconnected")) == 1
    assert code == 0, stderr


def test_publishing_after_an_idle_spell_logs_nothing_above_info(
    stack: RunningStack, tmp_path: Path
) -> None:
    """Each worker thread publishes the next stage's message on a connection of its own,
    which nothing attends between messages: after an idle spell past two missed heartbeats
    (6 s here, 20 s by default) RabbitMQ has dropped it. The next publish fails once and
    dramatiq publishes again on a new connection; pika used to log three ERROR lines per
    thread for the dropped one."""
    worker = _Worker(stack, tmp_path, f"{AMQP_URL}?heartbeat=3")
    headers = {"Authorization": f"Bearer {stack.token}"}

    def run_a_job() -> None:
        from tests.ops.gateway.conftest import fresh_job

        accepted = httpx.post(
            f"{stack.gateway.url}/v1/jobs", json=fresh_job(stack), headers=headers, timeout=30
        )
        assert accepted.status_code == 202, accepted.text
        url = f"{stack.gateway.url}/v1/jobs/{accepted.json()['job_id']}"
        _wait_for(
            "the job",
            lambda: httpx.get(url, headers=headers, timeout=10).json()["state"] == "succeeded",
        )

    try:
        run_a_job()  # every thread has published: each holds a publisher connection
        time.sleep(12)  # idle past two missed heartbeats: RabbitMQ drops them
        started = time.monotonic()
        run_a_job()
        print(f"\nthe job after 12 s idle took {time.monotonic() - started:.1f} s")
    finally:
        code, stderr = worker.stop()
    lines = worker.lines()
    loud = [line for line in lines if line["level"] in _LOUD or "exception" in line]
    assert loud == [], loud[:3]
    assert code == 0, stderr
