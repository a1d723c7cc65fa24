"""Hosts for the cluster test: Linux network namespaces on one bridge, and their faults.

Every name starts with ``tw27`` and every address is in 10.231.0.0/24, so that a run can
find and remove what a crashed run left behind (:func:`clean_leftovers`) without touching
anything else on the machine. The test process stays in the machine's namespace and
reaches every host over the bridge (10.231.0.1).

Faults are nftables tables inside a host's namespace: ``cut`` drops every packet in and
out but loopback (a partition: the host's peers see silence, not refusals), ``lose``
drops a share of packets at random (``numgen random``); ``heal`` removes both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BRIDGE", "PREFIX", "Host", "Network", "clean_leftovers", "run"]

PREFIX = "tw27"
BRIDGE = f"{PREFIX}br0"
GATEWAY_IP = "10.231.0.1"
_NETNS_ETC = Path("/etc/netns")


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=check, capture_output=True, text=True)


@dataclass(frozen=True)
class Host:
    name: str  # the short host name (also the namespace's name)
    ip: str

    @property
    def netns(self) -> str:
        return self.name

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns]

    def pids(self) -> list[int]:
        out = run("ip", "netns", "pids", self.netns, check=False).stdout
        return [int(p) for p in out.split()]

    def kill_all(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _nft(self, script: str) -> None:
        subprocess.run([*self.exec_prefix(), "nft", "-f", "-"], input=script, check=True, text=True)

    def cut(self) -> None:
        """Drop every packet but loopback's, both ways."""
        self._nft(
            f"table inet {PREFIX}cut {{\n"
            "  chain in { type filter hook input priority 0; policy drop; iif lo accept; }\n"
            "  chain out { type filter hook output priority 0; policy drop; oif lo accept; }\n"
            "}\n"
        )

    def lose(self, percent: int) -> None:
        """Drop ``percent`` % of the packets, at random, both ways."""
        rule = f"meta iif != lo numgen random mod 100 < {percent} drop"
        out_rule = f"meta oif != lo numgen random mod 100 < {percent} drop"
        self._nft(
            f"table inet {PREFIX}loss {{\n"
            f"  chain in {{ type filter hook input priority 0; {rule}; }}\n"
            f"  chain out {{ type filter hook output priority 0; {out_rule}; }}\n"
            "}\n"
        )

    def heal(self) -> None:
        for table in (f"{PREFIX}cut", f"{PREFIX}loss"):
            run(*self.exec_prefix(), "nft", "delete", "table", "inet", table, check=False)


class Network:
    """The bridge and the hosts; ``remove()`` takes all of it away (idempotent)."""

    def __init__(self, hosts: Sequence[Host]) -> None:
        self.hosts = {host.name: host for host in hosts}

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def create(self) -> Network:
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "addr", "add", f"{GATEWAY_IP}/24", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        hosts_file = "127.0.0.1 localhost\n" + "".join(
            f"{h.ip} {h.name}\n" for h in self.hosts.values()
        )
        for host in self.hosts.values():
            veth = f"{PREFIX}v{host.ip.rsplit('.', 1)[1]}"
            run("ip", "netns", "add", host.netns)
            run(
                "ip",
                "link",
                "add",
                veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                host.netns,
            )
            run("ip", "link", "set", veth, "master", BRIDGE, "up")
            run("ip", "-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
            run("ip", "-n", host.netns, "link", "set", "eth0", "up")
            run("ip", "-n", host.netns, "link", "set", "lo", "up")
            etc = _NETNS_ETC / host.netns  # `ip netns exec` mounts it over /etc
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(hosts_file)
        return self

    def remove(self) -> None:
        for host in self.hosts.values():
            host.kill_all()
        clean_leftovers()


def clean_leftovers() -> None:
    """Every tw27 namespace (its processes killed), the bridge, and the hosts files."""
    names = run("ip", "netns", "list", check=False).stdout.split("\n")
    for line in names:
        name = line.split(" ")[0]
        if not name.startswith(PREFIX):
            continue
        Host(name, "").kill_all()
        run("ip", "netns", "del", name, check=False)
    run("ip", "link", "del", BRIDGE, check=False)
    if _NETNS_ETC.is_dir():
        for etc in _NETNS_ETC.glob(f"{PREFIX}*"):
            for child in etc.iterdir():
                child.unlink()
            etc.rmdir()
