"""A runtime on dramatiq's stub broker with a real store and fake stage cores."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

import messages
from messages import JobAccepted, JobState, Stage, StageMessage
from tests.factories import good
from workers.config import load_config
from workers.machinery.context import StageContext
from workers.machinery.core import Paused, StageCore
from workers.machinery.deps import CaRegistry, Deps, InstanceRegistry
from workers.machinery.pipeline import build_routes
from workers.machinery.runtime import Runtime
from workers.sealing import Sealer
from workers.store import Store

__all__ = ["Harness", "fake_output"]

SHA = "a" * 64
SYS = "b" * 32


def fake_output(kind: type[StageMessage], job_id: str) -> StageMessage:
    values: dict[str, Any] = {"job_id": job_id}
    for name in kind.model_fields:
        if name in values or name == "schema_version":
            continue
        if name.endswith("sys_ids"):
            values[name] = [SYS]
        elif name.endswith("sys_id"):
            values[name] = SYS
        elif name.endswith("sha256"):
            values[name] = SHA
        else:
            values[name] = "x"
    return kind.model_validate(values)


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.config = load_config().with_queue_prefix("rt").model_copy()
        self.broker = StubBroker()
        self.broker.add_middleware(CurrentMessage())
        sealer = Sealer([Sealer.generate_key()])
        self.store = Store(f"sqlite:///{tmp_path}/s.sqlite3", sealer)
        self.deps = Deps(
            self.config,
            self.store,
            CaRegistry(self.config, tmp_path, sealer),
            InstanceRegistry(self.config, environ={}),
        )
        self.runs: Counter[Stage] = Counter()
        self.behaviour: dict[Stage, Callable[[StageContext], StageMessage | Paused | None]] = {}
        routes = build_routes(self.config)
        cores = {route.stage: self._core(route.stage, route.produces) for route in routes}
        self.runtime = Runtime(self.deps, self.broker, cores)
        self.worker = dramatiq.Worker(self.broker, worker_threads=2, worker_timeout=50)

    def _core(self, stage: Stage, produces: type[StageMessage]) -> StageCore:
        def core(msg: StageMessage, ctx: StageContext) -> StageMessage | Paused:
            self.runs[stage] += 1
            special = self.behaviour.get(stage)
            result = special(ctx) if special else None
            return result if result is not None else fake_output(produces, msg.job_id)

        return core

    def start_job(self) -> str:
        job, _ = self.store.create_job(messages.JobRequest.model_validate(good()))
        self.runtime.send(Stage.GENERATE, JobAccepted(job_id=job.id))
        return job.id

    def wait(self, job_id: str, *states: JobState, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.store.get_job(job_id).state not in states:
            assert time.monotonic() < deadline, self.store.get_job(job_id)
            time.sleep(0.02)
        self.broker.join(self.runtime.routes[Stage.VERIFY].queue, timeout=5000)
        self.worker.join()

    def kinds(self, job_id: str) -> list[str]:
        return [event.kind for event in self.store.history(job_id)]
