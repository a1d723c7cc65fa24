"""``twoway up``: the whole stack on one machine, for development, demos and tests.

A sandbox instance, a third-party TLS endpoint that requires client certificates from
the job's CA, a store in a temporary folder with a throwaway master key, and workers:
in-process on dramatiq's stub broker, or worker processes on RabbitMQ.

``Stack(options).start()`` (or ``with Stack(options) as running``) gives a
:class:`RunningStack` whose parts all exist: each part's teardown is registered on an
``ExitStack`` the moment it has started, so a failure anywhere during start stops every
part started before it, and ``stop()`` stops every part even when one of them fails to.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import tomli_w

from messages import KeyType
from ops.dev.options import (
    BrokerOptions,
    PartnerOptions,
    SandboxOptions,
    StackOptions,
    stack_options,
)
from ops.dev.parts import SECOND, StackParts, start_parts
from ops.dev.sandbox import SandboxServer
from ops.dev.thirdparty import ThirdPartyServer
from ops.rabbitmq.bridges import Messaging
from ops.service.server import GatewayServer
from workers.app import App
from workers.config import ManualCaProfile, PipelineConfig, Settings
from workers.levers.poller import Poller
from workers.levers.scheduler import RenewalScheduler
from workers.levers.sweeper import Sweeper
from workers.sealing import Sealer

__all__ = [
    "SECOND",
    "BrokerOptions",
    "PartnerOptions",
    "RunningStack",
    "SandboxOptions",
    "Stack",
    "StackOptions",
    "stack_options",
]


class Stack:
    """A stack not yet started: ``start()`` returns the :class:`RunningStack`."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self._running: RunningStack | None = None

    def start(self) -> RunningStack:
        return RunningStack.start(self.options)

    def __enter__(self) -> RunningStack:
        self._running = self.start()
        return self._running

    def __exit__(self, *exc: object) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.stop()


class RunningStack:
    """A started stack: every part is there until ``stop()``, which stops them all."""

    @classmethod
    def start(cls, options: StackOptions | None = None) -> RunningStack:
        options = options or StackOptions()
        with contextlib.ExitStack() as teardown:
            state_dir = options.state_dir or Path(tempfile.mkdtemp(prefix="twoway-"))
            running = cls(options, state_dir, teardown)
            if options.state_dir is None:
                teardown.callback(running._remove_state_dir)
            running._parts = start_parts(running, teardown)
            running._teardown = teardown.pop_all()  # started whole: stop() owns it now
        return running

    def __init__(
        self, options: StackOptions, state_dir: Path, teardown: contextlib.ExitStack
    ) -> None:
        self.options = options
        self.state_dir = state_dir
        self.master_key = Sealer.generate_key()
        self.sealer = Sealer([self.master_key])
        self.queue_prefix = f"twoway-{secrets.token_hex(4)}"
        self.processes_started: list[subprocess.Popen[bytes]] = []
        self._keep_state = options.keep_state
        self._teardown = teardown

    # The parts, each there from start to stop.
    _parts: StackParts

    @property
    def app(self) -> App:
        return self._parts.app

    @property
    def sandbox(self) -> SandboxServer:
        return self._parts.sandbox

    @property
    def second(self) -> SandboxServer:
        if self._parts.second is None:
            raise AttributeError("this stack has no second instance (sandbox.second_instance)")
        return self._parts.second

    @property
    def third_party(self) -> ThirdPartyServer:
        return self._parts.third_party

    @property
    def partner(self) -> ThirdPartyServer:
        """The estate's second third party, whose server certificate rotated."""
        if self._parts.partner is None:
            raise AttributeError("this stack has no estate partner (sandbox.estate)")
        return self._parts.partner

    @property
    def scheduler(self) -> RenewalScheduler:
        return self._parts.scheduler

    @property
    def sweeper(self) -> Sweeper:
        if self._parts.sweeper is None:
            raise AttributeError("the sweeper runs in the worker processes of this stack")
        return self._parts.sweeper

    @property
    def gateway(self) -> GatewayServer:
        return self._parts.gateway

    @property
    def poller(self) -> Poller:
        return self._parts.poller

    @property
    def poller_thread(self) -> threading.Thread:
        return self._parts.poller_thread

    @property
    def config(self) -> PipelineConfig:
        return self._parts.config

    @property
    def environ(self) -> dict[str, str]:
        return self._parts.environ

    @property
    def settings(self) -> Settings:
        return self._parts.settings

    @property
    def token(self) -> str:
        return self._parts.token

    @property
    def read_token(self) -> str:
        """A token of the read role (jobs, history, metrics; no levers)."""
        return self._parts.read_token

    @property
    def messaging(self) -> Messaging | None:
        return self._parts.messaging

    def __enter__(self) -> RunningStack:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every part, the last started first; a part that fails does not stop the rest."""
        self._teardown.close()

    def on_stop(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` at stop, before the parts started so far are stopped."""
        self._teardown.callback(callback)

    def keep_state(self) -> None:
        """Leave the state directory behind at stop (e.g. for its log after a failure)."""
        self._keep_state = True

    def _remove_state_dir(self) -> None:
        if not self._keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def callback_secret(self, profile: str = "manual") -> bytes:
        """The secret that signs callbacks for a manual CA profile of this stack."""
        return self.app.deps.cas.callback_secret(profile)

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
            "TWOWAY_BROKER_URL": self.options.broker.url,
            "TWOWAY_QUEUE_PREFIX": self.queue_prefix,
            "TWOWAY_LOG_FILE": str(self.state_dir / "worker.log"),
            "TWOWAY_CHAOS": ",".join(self.options.chaos),
        }

    def spawn_worker(self, *extra: str) -> subprocess.Popen[bytes]:
        """One more ``twoway worker`` process; stopped with the stack."""
        command = [sys.executable, "-m", "ops", "worker", *extra]
        process = subprocess.Popen(command, env=self.worker_environment())
        self.processes_started.append(process)
        return process

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The worker processes this stack started (dead ones included)."""
        return list(self.processes_started)

    @property
    def queues(self) -> list[str]:
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
            "read_token": self.read_token,
            "third_party": {"url": self.third_party.url},
            "broker": self.options.broker.kind,
            "queue_prefix": self.queue_prefix,
            "state_dir": str(self.state_dir),
            "store": self.settings.store_url(),
            "example_job": self.example_job(),
            "callback_secret": self._manual_callback_secret(),
            "amqp": self.messaging.info() if self.messaging is not None else None,
        }

    def _manual_callback_secret(self) -> str | None:
        """What signs callbacks for jobs of the ``manual`` CA profile (None without one)."""
        profile = self.config.ca.get("manual")
        if isinstance(profile, ManualCaProfile) and profile.callback_secret_env:
            return self.environ.get(profile.callback_secret_env)
        return None
