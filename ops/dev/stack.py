"""``twoway up``: the whole stack on one machine, for development, demos and tests.

A sandbox instance, a third-party TLS endpoint that requires client certificates from
the job's CA, a store in a temporary folder with a throwaway master key, and workers:
in-process on dramatiq's stub broker, or worker processes on RabbitMQ.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
import tomli_w

from messages import KeyType
from ops.dev.sandbox import EstateEndpoints, Pacing, SandboxFacts, SandboxServer
from ops.dev.thirdparty import ThirdPartyServer
from ops.rabbitmq.chores import delete_queues, stage_queue_names
from ops.service.server import GatewayServer
from workers.app import App, build_app
from workers.ca import LocalCa
from workers.config import (
    InstanceProfile,
    ManualCaProfile,
    PipelineConfig,
    Settings,
    load_config,
)
from workers.levers.notifier import Notifier
from workers.levers.poller import Poller
from workers.levers.revoker import Revoker
from workers.levers.scheduler import RenewalScheduler
from workers.levers.sweeper import Sweeper
from workers.machinery.broker import BrokerKind
from workers.machinery.deps import CaRegistry
from workers.sealing import Sealer

__all__ = ["Stack", "StackOptions"]

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672"
USER_ENV = "TWOWAY_SANDBOX_USERNAME"
PASSWORD_ENV = "TWOWAY_SANDBOX_PASSWORD"  # noqa: S105 - the variable's name, not a secret
SECOND = "sandbox2"  # the second instance's profile name (StackOptions.second_instance)


@dataclass
class StackOptions:
    broker: BrokerKind = "stub"
    broker_url: str = field(
        default_factory=lambda: os.environ.get("TWOWAY_BROKER_URL", DEFAULT_BROKER_URL)
    )
    worker_processes: int = 2
    worker_threads: int = 4
    config: PipelineConfig | None = None
    state_dir: Path | None = None
    # The store (None: a new SQLite file in the state directory). An empty database: the
    # stack's jobs are all the jobs it counts.
    database_url: str | None = None
    keep_state: bool = False
    chaos: tuple[str, ...] = ()
    # How often the poller looks at jobs waiting for their CA (max_wait, pollable CAs).
    poll_every_s: float = 30.0
    # How often the renewal scheduler looks (None: pipeline.toml's [renewal] check_every_s).
    renewal_every_s: float | None = None
    # The sandbox's answers to the uncertain facts (None: the defaults of SandboxFacts).
    sandbox_facts: SandboxFacts | None = None
    # (connect, read) timeouts of the "sandbox" instance profile, e.g. short for fault tests.
    instance_timeouts: tuple[float, float] | None = None
    # With broker="rabbitmq": the AMQP intake (<prefix>.jobs) and the events relay too.
    amqp: bool = False
    # Whether the third party accepts certificates of the local CA from the start. When
    # not, a job waits in waiting_for_third_party until ``third_party.trust(...)``.
    partner_trusts_ca: bool = True
    # [third_party] probe_every_s for this stack (None: pipeline.toml's).
    probe_every_s: float | None = None
    # How the sandbox answers (latency, its own concurrency limit); None: at once.
    sandbox_pacing: Pacing | None = None
    # max_concurrent_calls and slot_wait_s of the instance profiles (None: the defaults).
    max_concurrent_calls: int | None = None
    slot_wait_s: float | None = None
    # A second sandbox instance, profile "sandbox2", answering with this pacing.
    second_instance: Pacing | None = None
    second_max_concurrent_calls: int | None = None
    # Run the revoker and the notifier this often (None: not at all; tests run them).
    lifecycle_every_s: float | None = None
    # The sandbox holds a hand-made mutual-TLS estate (ops/dev/sandbox/estate.py): its
    # messages point at the third party and at ``partner``, a second third party that
    # rotated its server certificate after its leaf was pinned on the instance.
    estate: bool = False


class Stack:
    """Start with ``start()`` (or as a context manager); ``stop()`` tears it all down."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self._owns_dir = self.options.state_dir is None
        self.state_dir = self.options.state_dir or Path(tempfile.mkdtemp(prefix="twoway-"))
        self.master_key = Sealer.generate_key()
        self.sealer = Sealer([self.master_key])
        self.queue_prefix = f"twoway-{secrets.token_hex(4)}"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._worker: dramatiq.Worker | None = None
        self.app: App | None = None

    def __enter__(self) -> Stack:
        return self if self.app is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        if self.app is not None:
            raise RuntimeError("this stack is already running")
        base = self.options.config or load_config()
        local_ca = CaRegistry(base, self.state_dir, self.sealer).get("local")
        assert isinstance(local_ca, LocalCa), "pipeline.toml's 'local' CA profile must be local"
        ca_root = local_ca.root_pem
        self.third_party_trust = ca_root if self.options.partner_trusts_ca else None
        self.third_party = ThirdPartyServer(
            [ca_root] if self.options.partner_trusts_ca else []
        ).start()
        if self.options.probe_every_s is not None:
            probing = base.third_party.model_copy(
                update={"probe_every_s": self.options.probe_every_s}
            )
            base = base.model_copy(update={"third_party": probing})
        self.sandbox = self._sandbox(self.options.sandbox_pacing, estate=self.options.estate)
        self.config = base.with_instance("sandbox", self._instance_profile()).with_queue_prefix(
            self.queue_prefix
        )
        self.environ = {
            **os.environ,
            USER_ENV: self.sandbox.username,
            PASSWORD_ENV: self.sandbox.password,
            **self._second_instance(),
            **self._callback_secrets(base),
        }
        self.settings = Settings(
            broker_url=self.options.broker_url,
            database_url=self.options.database_url,
            state_dir=self.state_dir,
            chaos=self.options.chaos,
        )
        self.app = build_app(
            self.config,
            self.settings,
            broker=self.options.broker,
            sealer=self.sealer,
            environ=self.environ,
        )
        # An operator token for whoever started the stack (printed once by ``twoway up``).
        _, self.token = self.app.store.tokens.create("twoway up", "operator")
        self.gateway = GatewayServer(self.app).start()
        self.poller = Poller(self.app)
        self.poller_thread = self.poller.start(every_s=self.options.poll_every_s)
        self.scheduler = RenewalScheduler(self.app)
        self.scheduler.start(self.options.renewal_every_s)
        if self.options.lifecycle_every_s is not None:
            self._start_lifecycle(self.options.lifecycle_every_s)
        if self.options.broker == "stub":
            self._worker = dramatiq.Worker(
                self.app.broker, worker_threads=self.options.worker_threads, worker_timeout=100
            )
            self._worker.start()
            # In-process workers: the sweeper runs here too (worker processes run their own).
            self.sweeper = Sweeper(self.app.runtime)
            self.sweeper.start()
        else:
            self._spawn_workers()
        if self.options.amqp and self.options.broker == "rabbitmq":
            from ops.rabbitmq.bridges import Messaging

            self.messaging = Messaging(self.app, self.options.broker_url).start()
        return self

    def _start_lifecycle(self, every_s: float) -> None:
        assert self.app is not None
        self.revoker = Revoker(self.app.deps)
        self.revoker.start(every_s)
        self.notifier = Notifier(self.app.store, self.app.config, self.environ)
        self.notifier.start(every_s)

    @staticmethod
    def _callback_secrets(config: PipelineConfig) -> dict[str, str]:
        """A fresh callback secret for each manual CA profile, in the variable it names."""
        return {
            profile.callback_secret_env: secrets.token_urlsafe(32)
            for profile in config.ca.values()
            if isinstance(profile, ManualCaProfile) and profile.callback_secret_env
        }

    def callback_secret(self, profile: str = "manual") -> bytes:
        """The secret that signs callbacks for a manual CA profile of this stack."""
        assert self.app is not None
        return self.app.deps.cas.callback_secret(profile)

    def _sandbox(self, pacing: Pacing | None, *, estate: bool = False) -> SandboxServer:
        server = SandboxServer(
            self.options.sandbox_facts,
            seed_endpoint=self.third_party.url,
            estate=self._estate_partners() if estate else None,
        )
        if estate:
            self.partner.rotate_server_certificate()  # after its leaf was pinned by hand
            assert server.estate is not None
            for partner in (self.third_party, self.partner):  # they trust what they had
                partner.trust(server.estate.public_ca_pem)
                partner.trust(server.estate.corporate_ca_pem)
        if pacing is not None:
            server.pace(pacing)
        return server.start()

    def _estate_partners(self) -> EstateEndpoints:
        """The estate's partners: the third party, and one that rotates its certificate."""
        ca_root = [self.third_party_trust] if self.third_party_trust else []
        self.partner = ThirdPartyServer(ca_root).start()
        return EstateEndpoints(
            main=self.third_party.url,
            partner=self.partner.url,
            main_ca_pem=self.third_party.server_ca_pem.decode(),
            partner_leaf_pem=self.partner.server_certificate_pem.decode(),
        )

    def _second_instance(self) -> dict[str, str]:
        """Start the second sandbox, if asked for; its profile and login variables."""
        pacing = self.options.second_instance
        if pacing is None:
            return {}
        self.second = self._sandbox(pacing)
        user_env, password_env = f"{USER_ENV}2", f"{PASSWORD_ENV}2"
        profile = self._instance_profile(
            self.second.url, user_env, password_env, self.options.second_max_concurrent_calls
        )
        self.config = self.config.with_instance(SECOND, profile)
        return {user_env: self.second.username, password_env: self.second.password}

    def _instance_profile(
        self,
        url: str | None = None,
        user_env: str = USER_ENV,
        password_env: str = PASSWORD_ENV,
        limit: int | None = None,
    ) -> InstanceProfile:
        extra: dict[str, float] = {}
        if self.options.instance_timeouts is not None:
            connect, read = self.options.instance_timeouts
            extra = {"connect_timeout_s": connect, "read_timeout_s": read}
        limit = limit or self.options.max_concurrent_calls
        if limit is not None:
            extra["max_concurrent_calls"] = limit
        if self.options.slot_wait_s is not None:
            extra["slot_wait_s"] = self.options.slot_wait_s
        return InstanceProfile(
            url=url or self.sandbox.url,
            username_env=user_env,
            password_env=password_env,
            fetch_hosts=["localhost:*", "127.0.0.1:*"],  # the stack's third parties live here
            **extra,
        )

    def worker_environment(self) -> dict[str, str]:
        """What a ``twoway worker`` process needs to join this stack."""
        config_path = self.state_dir / "pipeline.toml"
        if not config_path.exists():
            config_path.write_text(
                tomli_w.dumps(self.config.model_dump(mode="json", exclude_none=True))
            )
        return {
            **self.environ,
            "TWOWAY_CONFIG": str(config_path),
            "TWOWAY_MASTER_KEY": self.master_key,
            "TWOWAY_STATE_DIR": str(self.state_dir),
            "TWOWAY_DATABASE_URL": self.settings.store_url(),  # the stack's, not the caller's
            "TWOWAY_BROKER_URL": self.options.broker_url,
            "TWOWAY_QUEUE_PREFIX": self.queue_prefix,
            "TWOWAY_LOG_FILE": str(self.state_dir / "worker.log"),
            "TWOWAY_CHAOS": ",".join(self.options.chaos),
        }

    def _spawn_workers(self) -> None:
        env = self.worker_environment()
        for _ in range(self.options.worker_processes):
            command = [sys.executable, "-m", "ops", "worker"]
            command += ["--threads", str(self.options.worker_threads)]
            self._processes.append(subprocess.Popen(command, env=env))

    def spawn_worker(self, *extra: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "ops", "worker", *extra]
        process = subprocess.Popen(command, env=self.worker_environment())
        self._processes.append(process)
        return process

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The worker processes this stack started (dead ones included)."""
        return list(self._processes)

    @property
    def queues(self) -> list[str]:
        assert self.app is not None
        return [route.queue for route in self.app.runtime.routes]

    def example_job(self, key: KeyType = KeyType.RSA2048, **changes: Any) -> dict[str, Any]:
        """A job request that succeeds on this stack as it is."""
        job: dict[str, Any] = {
            "instance": "sandbox",
            "target": {"kind": "rest", "name": "Payments API"},
            "subject": {"cn": "servicenow-payments-client", "o": "twoway demo", "c": "DE"},
            "dns_sans": ["payments-client.example.internal"],
            "key": {"type": key.value},
            "ca": {"profile": "local", "adapter": "local"},
            "keystore": {"record_name": "twoway payments client", "alias": "twoway"},
            "server_certificate": {"pem": self.third_party.server_certificate_pem.decode()},
            "protocol_profile": {"name": "mauthpayments", "port": self.third_party.port},
        }
        job.update(changes)
        return job

    def info(self) -> dict[str, Any]:
        return {
            "instance": {
                "url": self.sandbox.url,
                "username": self.sandbox.username,
                "password": self.sandbox.password,
            },
            "gateway": self.gateway.url,
            "console": f"{self.gateway.url}/ui",
            "token": self.token,
            "third_party": {"url": self.third_party.url},
            "broker": self.options.broker,
            "queue_prefix": self.queue_prefix,
            "state_dir": str(self.state_dir),
            "store": self.settings.store_url(),
            "example_job": self.example_job(),
            "callback_secret": self._manual_callback_secret(),
            "amqp": self.messaging.info() if getattr(self, "messaging", None) else None,
        }

    def _manual_callback_secret(self) -> str | None:
        """What signs callbacks for jobs of the ``manual`` CA profile (None without one)."""
        profile = self.config.ca.get("manual")
        if isinstance(profile, ManualCaProfile) and profile.callback_secret_env:
            return self.environ.get(profile.callback_secret_env)
        return None

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if getattr(self, "gateway", None) is not None:
            self.gateway.stop()
        if getattr(self, "poller", None) is not None:
            self.poller.stop()
        if getattr(self, "scheduler", None) is not None:
            self.scheduler.stop()
        for lever in ("revoker", "notifier"):
            if getattr(self, lever, None) is not None:
                getattr(self, lever).stop()
        if getattr(self, "messaging", None) is not None:
            self.messaging.stop()
        if getattr(self, "sweeper", None) is not None:
            self.sweeper.stop()
        if self._worker is not None:
            self._worker.stop()
        if self.app is not None:
            if self.options.broker == "rabbitmq":
                delete_queues(self.options.broker_url, stage_queue_names(self.queues))
            self.app.close()
        servers = ("sandbox", "second", "third_party", "partner")
        for server in (getattr(self, name, None) for name in servers):
            if server is not None:
                server.stop()
        if self._owns_dir and not self.options.keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)
