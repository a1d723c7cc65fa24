"""The cluster: nine hosts (network namespaces) running twoway as a deployment would.

    r1 r2 r3   RabbitMQ nodes, one cluster, quorum queues (vhost default)   10.231.0.11-13
    db1 db2    PostgreSQL primary and streaming replica                      10.231.0.21-22
    gw         the gateway (HTTP API, /metrics)                              10.231.0.31
    w1 w2      worker processes (all stages, the sweeper)                    10.231.0.41-42
    edge       the sandbox instance and the third parties                    10.231.0.51

Needs root (namespaces, nftables), Debian's RabbitMQ and PostgreSQL. Everything is taken
down when the test ends, passes or fails (an ExitStack), and whatever a crashed run left
behind is removed before starting.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.cluster.netns import Host, Network, clean_leftovers
from tests.cluster.postgres import PgServer
from tests.cluster.rabbit import RabbitNode, write_definitions
from workers.config import InstanceProfile, load_config
from workers.sealing import Sealer

HOSTS = [
    Host("tw27r1", "10.231.0.11"),
    Host("tw27r2", "10.231.0.12"),
    Host("tw27r3", "10.231.0.13"),
    Host("tw27db1", "10.231.0.21"),
    Host("tw27db2", "10.231.0.22"),
    Host("tw27gw", "10.231.0.31"),
    Host("tw27w1", "10.231.0.41"),
    Host("tw27w2", "10.231.0.42"),
    Host("tw27edge", "10.231.0.51"),
]
PARTNERS = 110  # third parties (one per job) the edge host serves
DATABASE_URL = (
    "postgresql://postgres@10.231.0.21:5432,10.231.0.22:5432/twoway?target_session_attrs=read-write"
)
ROOT = Path(__file__).resolve().parents[2]


def missing_tools() -> str | None:
    if os.geteuid() != 0:
        return "the cluster test needs root (network namespaces, nftables)"
    for tool in ("ip", "nft", "runuser", "/usr/lib/rabbitmq/bin/rabbitmq-server"):
        if shutil.which(tool) is None:
            return f"the cluster test needs {tool}"
    if not Path("/usr/lib/postgresql").is_dir():
        return "the cluster test needs PostgreSQL's binaries in /usr/lib/postgresql"
    return None


@dataclass
class Cluster:
    base: Path
    network: Network
    rabbits: list[RabbitNode]
    primary: PgServer
    replica: PgServer
    env: dict[str, str]
    edge: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0

    @property
    def gateway_url(self) -> str:
        return "http://10.231.0.31:8000"

    def broker_url(self, first: int) -> str:
        nodes = self.rabbits[first:] + self.rabbits[:first]  # each host its own order
        return ",".join(node.url for node in nodes)

    def spawn(self, host: Host, name: str, *args: str, broker_first: int = 0) -> None:
        env = {
            **self.env,
            "TWOWAY_BROKER_URL": self.broker_url(broker_first),
            "TWOWAY_LOG_FILE": str(self.base / "logs" / f"{name}.log"),
        }
        out = (self.base / "logs" / f"{name}.out").open("ab")
        command = [*host.exec_prefix(), sys.executable, *args]
        self.processes[name] = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )

    def rabbit_on(self, host_name: str) -> RabbitNode:
        return next(node for node in self.rabbits if node.host.name == host_name)

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.base / "logs" / f"{name}.out"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _write_config(base: Path) -> Path:
    config = load_config().with_instance(
        "sandbox",
        InstanceProfile(
            url="http://10.231.0.51:8080",
            username_env="TWOWAY_SANDBOX_USERNAME",
            password_env="TWOWAY_SANDBOX_PASSWORD",
            fetch_hosts=["10.231.0.51:*"],
            connect_timeout_s=3,
            read_timeout_s=10,
        ),
    )
    broker = config.broker.model_copy(
        update={
            "min_backoff_ms": 500,
            "max_backoff_ms": 4000,
            "lease_s": 10,
            "sweep_every_s": 5,
            "sweep_quiet_s": 60,
        }
    )
    config = config.model_copy(update={"broker": broker})
    path = base / "pipeline.toml"
    path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude_none=True)))
    return path


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


def _watch_memory(cluster: Cluster, stop: threading.Event) -> None:
    """The peak of the resident memory of every process of the cluster and of the test."""
    while not stop.wait(1.0):
        pids = [os.getpid()] + [p for h in cluster.network.hosts.values() for p in h.pids()]
        cluster.peak_rss_mb = max(cluster.peak_rss_mb, _rss_mb(pids))


def _wait_file(path: Path, cluster: Cluster, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        process = cluster.processes[name]
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{name} did not start:\n{cluster.log_tail(name)}")
        time.sleep(0.3)


def _keep_logs(base: Path) -> None:
    """With TWOWAY_CLUSTER_LOGS=DIR, every host's logs are copied there before clean-up."""
    keep = os.environ.get("TWOWAY_CLUSTER_LOGS")
    if keep:
        shutil.rmtree(keep, ignore_errors=True)
        shutil.copytree(
            base, keep, ignore=shutil.ignore_patterns("data", "home", "state", ".s.PGSQL.*")
        )


def _start(stack: ExitStack) -> Cluster:
    clean_leftovers()
    base = Path(tempfile.mkdtemp(prefix="twoway-cluster-"))
    base.chmod(0o755)  # PostgreSQL runs as postgres under it
    stack.callback(shutil.rmtree, base, ignore_errors=True)
    stack.callback(_keep_logs, base)
    (base / "logs").mkdir()
    network = Network(HOSTS)
    stack.callback(network.remove)
    network.create()
    definitions = base / "definitions.json"
    write_definitions(definitions)
    first = RabbitNode(network["tw27r1"], base / "rabbit", definitions, seed=None).start()
    others = [
        RabbitNode(network[name], base / "rabbit", definitions, seed=first.node)
        for name in ("tw27r2", "tw27r3")
    ]
    primary = PgServer(network["tw27db1"], base / "pg").init_primary()
    primary.createdb("twoway")
    first.wait_ready()
    for node in others:
        node.start()  # they join the first node while the replica is made
    replica = PgServer(network["tw27db2"], base / "pg").init_replica(primary)
    for node in others:
        node.wait_ready()
    state = base / "state"
    state.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TWOWAY_")},
        "TWOWAY_CONFIG": str(_write_config(base)),
        "TWOWAY_MASTER_KEY": Sealer.generate_key(),
        "TWOWAY_STATE_DIR": str(state),
        "TWOWAY_DATABASE_URL": DATABASE_URL,
    }
    cluster = Cluster(base, network, [first, *others], primary, replica, env)
    stop = threading.Event()
    stack.callback(stop.set)
    threading.Thread(target=_watch_memory, args=(cluster, stop), daemon=True).start()
    edge_file = base / "edge.json"
    cluster.spawn(
        network["tw27edge"], "edge", "-m", "tests.cluster.edge", str(edge_file), str(PARTNERS),
        "10.231.0.51",
    )  # fmt: skip
    _wait_file(edge_file, cluster, "edge")
    cluster.edge = json.loads(edge_file.read_text())
    cluster.env["TWOWAY_SANDBOX_USERNAME"] = cluster.edge["username"]
    cluster.env["TWOWAY_SANDBOX_PASSWORD"] = cluster.edge["password"]
    cluster.spawn(
        network["tw27gw"], "gateway", "-m", "ops", "gateway", "--host", "0.0.0.0",  # noqa: S104
        "--port", "8000", broker_first=2,
    )  # fmt: skip
    for index, name in enumerate(("tw27w1", "tw27w2")):
        cluster.spawn(
            network[name], f"worker{index + 1}", "-m", "ops", "worker", "--threads", "4",
            "--metrics-port", "9191", "--metrics-host", "0.0.0.0", broker_first=index,  # noqa: S104
        )  # fmt: skip
    return cluster


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    reason = missing_tools()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the cluster test: {reason}")  # never a silent skip there
    if reason:
        pytest.skip(reason)
    with ExitStack() as stack:  # Network.remove kills every process in the namespaces
        yield _start(stack)
