"""``twoway demo --broker rabbitmq`` finishes (its stand-in partner learns of the wait from
the store, where the worker processes write it), and SIGTERM leaves nothing behind: no
worker process, no temporary directory, no queue."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pika
import pytest

from tests.conftest import AMQP_URL

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("rabbitmq_is_up")]


@pytest.fixture
def rabbitmq_is_up() -> None:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
    except pika.exceptions.AMQPConnectionError as exc:
        pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL} ({exc})")


def _queues(prefix: str) -> list[str]:
    """The broker's queues named with ``prefix`` (read-only: rabbitmqctl list_queues)."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True, text=True, check=True
    )
    return [name for name in listed.stdout.split() if name.startswith(f"{prefix}.")]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _demo(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # its temporary directory goes here
    return subprocess.Popen(
        [sys.executable, "-m", "ops", "demo", "--broker", "rabbitmq", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_the_demo_on_rabbitmq_finishes_and_cleans_up(tmp_path: Path) -> None:
    demo = _demo(tmp_path, "--timeout", "180", "--key", "ec256")
    out, _ = demo.communicate(timeout=300)
    assert demo.returncode == 0, out
    assert "playing the third party: installed" in out
    assert re.search(r"\[  done\] job [0-9a-f]{32} succeeded", out), out
    prefix = re.search(r"broker +rabbitmq \((twoway-[0-9a-f]+)\.\*\)", out)
    assert prefix is not None, out
    assert _queues(prefix.group(1)) == []
    assert list(tmp_path.iterdir()) == []


def test_sigterm_stops_the_demo_workers_and_removes_its_files_and_queues(
    tmp_path: Path,
) -> None:
    demo = _demo(tmp_path, "--timeout", "180")
    assert demo.stdout is not None
    lines = []
    for line in demo.stdout:  # until the job is submitted: workers up, queues declared
        lines.append(line)
        if line.startswith("job "):
            break
    prefix = re.search(r"\((twoway-[0-9a-f]+)\.\*\)", "".join(lines))
    assert prefix is not None, lines
    workers = _children(demo.pid)
    assert workers, "the demo started no worker process"
    assert _queues(prefix.group(1)), "no queue to clean up"
    demo.send_signal(signal.SIGTERM)
    rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 128 + signal.SIGTERM, rest
    assert "stopped by SIGTERM" in rest and "Traceback" not in rest, rest
    time.sleep(0.5)
    assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []
    assert list(tmp_path.iterdir()) == []
    assert _queues(prefix.group(1)) == []
