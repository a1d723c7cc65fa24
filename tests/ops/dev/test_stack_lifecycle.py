"""A development stack cannot half-start or half-stop: what started is stopped, whatever fails.

``Stack(options).start()`` either returns a stack whose parts are all there, or stops every
part it had started and removes its state directory before the error reaches the caller;
``stop()`` stops every part even when one of them fails to stop.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from ops.dev.stack import (
    BrokerOptions,
    PartnerOptions,
    RunningStack,
    Stack,
    StackOptions,
    stack_options,
)
from workers.errors import ConfigError


def _sockets() -> int:
    """How many sockets this process holds open."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


def _settle(before: int, measure: object) -> int:
    """The measure once threads and sockets closing behind the stop have closed."""
    assert callable(measure)
    deadline = time.monotonic() + 10
    now = measure()
    while now > before and time.monotonic() < deadline:
        time.sleep(0.1)
        now = measure()
    return int(now)


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders of this test go under tmp_path, where they can be counted."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_start_that_fails_half_way_stops_what_it_started(own_tmp: Path) -> None:
    threads, sockets = threading.active_count(), _sockets()
    # The store is the sixth part: the third party and the sandbox are up when it fails.
    options = StackOptions(database_url="postgresql://twoway@127.0.0.1:1/nowhere")
    with pytest.raises(Exception) as refused:
        Stack(options).start()
    assert "127.0.0.1" in str(refused.value) or "connect" in str(refused.value).lower()
    assert list(own_tmp.glob("twoway-*")) == [], "the state directory is left behind"
    assert _settle(threads, threading.active_count) == threads, "a part's thread still runs"
    assert _settle(sockets, _sockets) == sockets, "a part still listens"


def test_stop_stops_every_part_even_when_one_fails_to(own_tmp: Path) -> None:
    running = Stack(StackOptions()).start()
    sandbox_url, third_party_port = running.sandbox.url, running.third_party.port

    def broken() -> None:
        raise RuntimeError("the gateway would not stop")

    running.on_stop(broken)  # stops first: every part started before it is still up
    with pytest.raises(RuntimeError, match="would not stop"):
        running.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(sandbox_url, timeout=2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", third_party_port), timeout=2)
    assert list(own_tmp.glob("twoway-*")) == []


def test_a_running_stack_has_every_part(own_tmp: Path) -> None:
    with Stack(StackOptions()) as running:
        assert isinstance(running, RunningStack)
        assert running.app.store.list_jobs() == []
        assert running.gateway.url.startswith("http")
        assert running.messaging is None  # not asked for
        with pytest.raises(AttributeError, match="second_instance"):
            _ = running.second
        state = running.state_dir
        assert state.is_dir()
    assert not state.exists()


def test_options_are_grouped_and_the_flat_words_still_sort_into_their_groups() -> None:
    flat = StackOptions(broker="rabbitmq", worker_processes=0, partner_trusts_ca=False)
    grouped = StackOptions(
        broker=BrokerOptions(kind="rabbitmq", worker_processes=0),
        partner=PartnerOptions(trusts_ca=False),
    )
    assert flat == grouped
    with pytest.raises(ValueError):
        flat.broker.worker_processes = 3  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"broker": "kafka"}, "broker.kind"),
        ({"worker_processes": -1}, "broker.worker_processes"),
        ({"broker": "stub", "amqp": True}, "needs broker kind rabbitmq"),
        ({"poll_every_s": 0}, "poll_every_s"),
        ({"sandbox": {"colour": "blue"}}, "sandbox.colour"),
    ],
)
def test_bad_options_are_a_config_error_naming_the_field(
    fields: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigError, match=says.replace(".", r"\.")):
        stack_options(**fields)


def test_up_gives_a_read_token_too(own_tmp: Path) -> None:
    with Stack(StackOptions()) as running:
        info = running.info()
        reader = {"Authorization": f"Bearer {info['read_token']}"}
        base = running.gateway.url
        assert httpx.get(f"{base}/v1/jobs", headers=reader).status_code == 200
        refused = httpx.post(f"{base}/v1/jobs", json=running.example_job(), headers=reader)
        assert refused.status_code == 403
