"""``twoway gateway --processes N``: N serving processes on one port, each with its own
App on the same store and broker; a dead one is replaced. Real RabbitMQ, real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from messages import KeyType
from ops.dev.stack import RunningStack, Stack, StackOptions


@pytest.fixture(scope="module")
def amqp_stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="rabbitmq", worker_processes=0)) as running:
        yield running


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> set[int]:
    """The serving processes under the supervisor ``pid`` (not multiprocessing's helper)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"resource_tracker" not in cmdline:
                found.add(int(child))
    return found


def _wait_for(predicate: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_processes_serve_the_stacks_store_and_a_dead_one_is_replaced(
    amqp_stack: RunningStack,
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "ops", "gateway", "--port", str(port), "--processes", "2"]
    supervisor = subprocess.Popen(command, env=amqp_stack.worker_environment())
    try:
        _wait_for(lambda: _healthy(base) and len(_children(supervisor.pid)) >= 2, "2 processes")
        first = _children(supervisor.pid)
        assert len(first) == 2
        headers = {"Authorization": f"Bearer {amqp_stack.token}"}
        accepted = httpx.post(
            f"{base}/v1/jobs",
            json=amqp_stack.example_job(KeyType.EC256),
            headers=headers,
            timeout=30,
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        assert amqp_stack.app.store.get_job(job_id).id == job_id  # the stack's own store

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        _wait_for(lambda: len(_children(supervisor.pid) - {victim}) >= 2, "a replacement process")
        _wait_for(lambda: _healthy(base), "the gateway to answer")
        answers = [
            httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=10).status_code
            for _ in range(20)
        ]
        assert answers == [200] * 20
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=30)


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_bad_process_count_is_refused_with_the_range(value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops", "gateway", "--processes", value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "argument --processes: a whole number of processes from 1 to 64" in done.stderr
    assert repr(value) in done.stderr
