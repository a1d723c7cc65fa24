"""A broker that is down does not look healthy: ``up``, ``demo`` and ``worker`` stop at
once with one line naming the URL (without its password) and the fix, and leave nothing
behind; a gateway on RabbitMQ answers /healthz 503 while the broker cannot be reached."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.rabbitmq.reachability import BrokerProbe, require_broker, shown_url
from ops.service.server import GatewayServer
from tests.conftest import AMQP_URL
from workers.app import build_app
from workers.config import Settings
from workers.errors import ConfigError


def _closed_port() -> int:
    """A local port nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dead_url() -> str:
    return f"amqp://guest:not-this-one@127.0.0.1:{_closed_port()}"


@pytest.mark.parametrize(
    "command",
    [["up", "--broker", "rabbitmq"], ["demo", "--broker", "rabbitmq"], ["worker"]],
    ids=["up", "demo", "worker"],
)
def test_a_command_stops_with_one_line_naming_the_url_and_the_fix(
    command: list[str], dead_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "TWOWAY_BROKER_URL": dead_url, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "ops", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:" in last, last
    assert "rabbitmq-server" in last and "TWOWAY_BROKER_URL" in last, last
    assert "not-this-one" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert "gateway" not in done.stdout  # no ready line for a stack that is not ready
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing left behind


def test_the_password_never_shows() -> None:
    assert shown_url("amqp://u:pw@h:5672/v") == "amqp://u:***@h:5672/v"
    assert shown_url("amqp://h") == "amqp://h"


def test_healthz_is_503_while_the_broker_is_unreachable(dead_url: str, tmp_path: Path) -> None:
    with Stack(StackOptions(broker="stub")) as stack:
        assert _healthz(stack, AMQP_URL, tmp_path / "up") == (200, {"status": "ok"})
        answer = _healthz(stack, dead_url, tmp_path / "down")
    assert answer == (503, {"status": "down", "unreachable": ["broker"]})


def _healthz(stack: RunningStack, broker_url: str, state_dir: Path) -> tuple[int, object]:
    """/healthz of a gateway whose app runs on RabbitMQ at ``broker_url``."""
    settings = Settings(broker_url=broker_url, state_dir=state_dir)
    app = build_app(
        stack.config, settings, broker="rabbitmq", sealer=stack.sealer, environ=stack.environ
    )
    gateway = GatewayServer(app).start()
    try:
        answer = httpx.get(f"{gateway.url}/healthz", timeout=10)
        return answer.status_code, answer.json()
    finally:
        gateway.stop()
        app.close()


def test_a_node_list_is_reachable_while_any_node_answers(dead_url: str) -> None:
    """TWOWAY_BROKER_URL lists a cluster's nodes: the start-up check and /healthz's probe
    ask each in turn, as every connection does (a dead first node is no outage)."""
    both = f"{dead_url},{AMQP_URL}"
    require_broker(both)  # the second node answers
    assert BrokerProbe(both).up()
    with pytest.raises(ConfigError) as refused:
        require_broker(f"{dead_url},{dead_url.replace('guest:', 'other:')}", timeout_s=1)
    assert "not reachable" in str(refused.value) and "***" in str(refused.value)
    assert not BrokerProbe(f"{dead_url},{dead_url}").up()
    assert shown_url("amqp://u:pw@a:5672,amqp://v:pw2@b:5672") == (
        "amqp://u:***@a:5672,amqp://v:***@b:5672"
    )
