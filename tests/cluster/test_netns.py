"""The cluster test's own tools: a crashed run's hosts are removed, and a cut is a cut."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.cluster.conftest import missing_tools
from tests.cluster.netns import BRIDGE, Host, Network, clean_leftovers, run

pytestmark = pytest.mark.cluster

LISTENER = "import socket,time; s=socket.create_server(('0.0.0.0', 7000)); time.sleep(600)"


@pytest.fixture
def host() -> Iterator[Host]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    network = Network([Host("tw27probe", "10.231.0.99")])
    clean_leftovers()
    try:
        network.create()
        yield network["tw27probe"]
    finally:
        network.remove()


def reachable(ip: str) -> bool:
    try:
        socket.create_connection((ip, 7000), timeout=1).close()
        return True
    except OSError:
        return False


def test_a_crashed_runs_hosts_and_their_processes_are_removed(host: Host) -> None:
    process = subprocess.Popen([*host.exec_prefix(), sys.executable, "-c", LISTENER])
    time.sleep(1)
    assert host.pids() == [process.pid]
    clean_leftovers()  # what the next run does first
    assert process.wait(timeout=10) != 0  # killed
    assert host.netns not in run("ip", "netns", "list").stdout
    assert run("ip", "link", "show", BRIDGE, check=False).returncode != 0


def test_a_cut_host_is_silent_until_healed(host: Host) -> None:
    subprocess.Popen([*host.exec_prefix(), sys.executable, "-c", LISTENER])
    deadline = time.monotonic() + 10
    while not reachable(host.ip) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert reachable(host.ip)
    host.cut()
    assert not reachable(host.ip)  # dropped, not refused: the connect times out
    host.heal()
    assert reachable(host.ip)
