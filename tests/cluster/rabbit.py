"""Three RabbitMQ nodes of Debian's RabbitMQ, one per host namespace, as one cluster.

Each node has its own directory (data, logs, HOME with the shared Erlang cookie, an empty
``RABBITMQ_CONF_ENV_FILE`` so the machine's rabbitmq-env.conf is not read, no plugins) and
listens on the usual ports inside its own namespace, so the machine's RabbitMQ is never
touched. The first node imports twoway's definitions (ops/rabbitmq/definitions.json with a
user, as ``twoway broker-definitions`` writes them: quorum queues by default); the others
join it at first boot (peer discovery ``classic_config``).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pika
import pika.exceptions

from ops.rabbitmq.definitions import definitions
from tests.cluster.netns import Host

__all__ = ["COOKIE", "RabbitNode", "write_definitions"]

COOKIE = "TW27CLUSTERTESTCOOKIE"
USER, PASSWORD = "twoway", "cluster-test-password"


def write_definitions(path: Path) -> None:
    path.write_text(json.dumps(definitions(PASSWORD, user=USER)))


class RabbitNode:
    def __init__(self, host: Host, base: Path, definitions_file: Path, seed: str | None) -> None:
        self.host = host
        self.node = f"rabbit@{host.name}"
        self.dir = base / host.name
        self.definitions_file = definitions_file
        self.seed = seed  # the node to join at first boot (None: the first node)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://{USER}:{PASSWORD}@{self.host.ip}:5672/twoway"

    def _prepare(self) -> dict[str, str]:
        home = self.dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(COOKIE)
            cookie.chmod(0o400)
        (self.dir / "env.conf").write_text("")
        (self.dir / "plugins").write_text("[].\n")
        conf = [
            f"load_definitions = {self.definitions_file}",
            "cluster_partition_handling = pause_minority",
            "loopback_users = none",
            "log.console = false",
            "disk_free_limit.absolute = 50MB",
        ]
        if self.seed:
            conf += [
                "cluster_formation.peer_discovery_backend = classic_config",
                f"cluster_formation.classic_config.nodes.1 = {self.seed}",
            ]
        (self.dir / "rabbitmq.conf").write_text("\n".join(conf) + "\n")
        return {
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(home),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "data"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "plugins"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
        }

    def start(self) -> RabbitNode:
        env = self._prepare()
        out = (self.dir / "out.log").open("ab")
        command = [*self.host.exec_prefix(), "env", "-i"]
        command += [f"{k}={v}" for k, v in env.items()]
        command += ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """kill -9 of everything on the host (beam, epmd): a node that dies at once."""
        self.host.kill_all()
        if self.process is not None:
            self.process.wait(timeout=10)

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the node takes an AMQP login on the twoway vhost."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                pika.BlockingConnection(pika.URLParameters(self.url + "?socket_timeout=2")).close()
                return
            except (pika.exceptions.AMQPError, OSError):
                if time.monotonic() > deadline:
                    log = (self.dir / "log" / f"{self.node}.log").read_text()[-3000:]
                    raise AssertionError(f"{self.node} did not come up:\n{log}") from None
                time.sleep(0.5)

    def ctl(self, *args: str, timeout: float = 30) -> str:
        env = self._prepare()
        command = [*self.host.exec_prefix(), "env", "-i"]
        command += [f"{k}={v}" for k, v in env.items()]
        command += ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.node, "-q", *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"rabbitmqctl {args}: {done.stderr or done.stdout}")
        return done.stdout

    def leaders(self) -> dict[str, str]:
        """Each quorum queue of the twoway vhost and the node that leads it."""
        out = self.ctl("list_queues", "-p", "twoway", "--no-table-headers", "name", "leader")
        pairs = (line.split("\t") for line in out.splitlines() if "\t" in line)
        return {name.strip(): leader.strip() for name, leader in pairs}

    def queue_types(self) -> dict[str, str]:
        out = self.ctl("list_queues", "-p", "twoway", "--no-table-headers", "name", "type")
        pairs = (line.split("\t") for line in out.splitlines() if "\t" in line)
        return {name.strip(): kind.strip() for name, kind in pairs}

    def members(self) -> list[str]:
        out = self.ctl("eval", "rabbit_nodes:all_running().")
        return [n.strip(" []'\n") for n in out.split(",") if n.strip(" []'\n")]
