"""The stage cores one at a time: dramatiq's stub broker, a real store, the sandbox
instance and a real TLS third party, with no worker thread.

``Cores.step(stage)`` takes the one message waiting on the stage's queue and hands it to
the runtime exactly as the actor would (``Runtime.handle``): the stage begins, its core
runs, its outcome is recorded, and its result waits on the next stage's queue. A test can
look at the instance and the store between any two stages, run a stage twice as a
redelivery would, or stop where it likes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dramatiq import Message

from messages import JobAccepted, JobRequest, KeyType, Stage, StageMessage
from ops.dev.sandbox import SandboxServer
from ops.dev.thirdparty import ThirdPartyServer
from workers.app import App, build_app
from workers.ca import LocalCa
from workers.config import InstanceProfile, Settings, load_config
from workers.machinery.context import StageContext
from workers.machinery.core import Paused
from workers.machinery.deps import CaRegistry
from workers.sealing import Sealer
from workers.store import JobRecord

USER_ENV, PASSWORD_ENV = "STAGES_SANDBOX_USER", "STAGES_SANDBOX_PASSWORD"


@dataclass
class Cores:
    app: App
    sandbox: SandboxServer
    partner: ThirdPartyServer

    def request(self, **changes: Any) -> dict[str, Any]:
        """A job request that succeeds on this instance as it is."""
        raw: dict[str, Any] = {
            "instance": "sandbox",
            "target": {"kind": "rest", "name": "Payments API"},
            "subject": {"cn": "stage-client", "o": "twoway tests", "c": "DE"},
            "dns_sans": ["stage-client.example.internal"],
            "key": {"type": KeyType.EC256.value},
            "ca": {"profile": "local", "adapter": "local"},
            "keystore": {"record_name": f"stage client {os.urandom(3).hex()}", "alias": "twoway"},
            "server_certificate": {"pem": self.partner.server_certificate_pem.decode()},
            "protocol_profile": {"name": f"mauth{os.urandom(3).hex()}", "port": self.partner.port},
        }
        raw.update(changes)
        return raw

    def start(self, **changes: Any) -> JobRecord:
        """A stored job whose first message waits on generate's queue."""
        job, _ = self.app.store.create_job(JobRequest.model_validate(self.request(**changes)))
        self.app.runtime.send(Stage.GENERATE, JobAccepted(job_id=job.id))
        return job

    def waiting(self, stage: Stage) -> list[dict[str, Any]]:
        """The payloads on the stage's queue, left where they are."""
        queue = self.app.broker.queues[self.app.runtime.routes[stage].queue]
        return [Message.decode(data).args[0] for data in list(queue.queue)]

    def step(self, stage: Stage) -> dict[str, Any]:
        """Deliver the stage's one waiting message to the runtime, as its actor would."""
        queue = self.app.broker.queues[self.app.runtime.routes[stage].queue]
        payload: dict[str, Any] = Message.decode(queue.get_nowait()).args[0]
        self.app.runtime.handle(stage, payload)
        return payload

    def redeliver(self, stage: Stage, payload: dict[str, Any]) -> None:
        """The same message once more, as RabbitMQ may deliver it."""
        self.app.runtime.handle(stage, payload)

    def rerun_core(self, stage: Stage, payload: dict[str, Any]) -> StageMessage | Paused:
        """The stage's core once more on the same message, as a run whose worker died after
        its calls to the instance and before its outcome was recorded would be followed."""
        route = self.app.runtime.routes[stage]
        job = self.app.store.get_job(payload["job_id"])
        ctx = StageContext(self.app.deps, job, stage)
        with ctx.active():
            return self.app.runtime.cores[stage](route.consumes.model_validate(payload), ctx)

    def through(self, last: Stage) -> None:
        """Step every stage from the first to ``last``."""
        for route in self.app.runtime.routes:
            self.step(route.stage)
            if route.stage is last:
                return

    def drain(self) -> None:
        """Drop whatever waits on any stage's queue (the next test starts clean)."""
        for route in self.app.runtime.routes:
            self.app.broker.queues[route.queue].queue.clear()

    def rows(self, table: str) -> list[dict[str, str]]:
        return self.sandbox.dump().get(table, [])


@pytest.fixture(scope="module")
def cores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cores]:
    state_dir: Path = tmp_path_factory.mktemp("cores")
    sealer = Sealer([Sealer.generate_key()])
    base = load_config()
    ca = CaRegistry(base, state_dir, sealer).get("local")
    assert isinstance(ca, LocalCa)
    with (
        ThirdPartyServer([ca.root_pem]) as partner,
        SandboxServer(seed_endpoint=partner.url) as sandbox,
    ):
        profile = InstanceProfile(url=sandbox.url, username_env=USER_ENV, password_env=PASSWORD_ENV)
        config = base.with_instance("sandbox", profile).with_queue_prefix("cores")
        environ = {USER_ENV: sandbox.username, PASSWORD_ENV: sandbox.password}
        settings = Settings(state_dir=state_dir, database_url=f"sqlite:///{state_dir}/s.sqlite3")
        app = build_app(config, settings, broker="stub", sealer=sealer, environ=environ)
        try:
            yield Cores(app, sandbox, partner)
        finally:
            app.close()


@pytest.fixture
def fresh(cores: Cores) -> Iterator[Cores]:
    cores.drain()
    yield cores
    cores.drain()
