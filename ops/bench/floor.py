"""The floor: the same nine stage cores, in plain processes, with no broker and no store.

Each floor process runs its share of jobs one after another, calling the stage cores
with the job kept in memory (``JobInMemory``): the same keys, CSRs, signings, keystores,
ServiceNow calls against the same sandbox, and the same handshakes. What the pipeline
costs beyond this is the queue, the store and the stage bookkeeping (its logs too: the
floor logs warnings only).
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import structlog

from messages import JobAccepted, JobRequest, JobState, Stage, StageMessage
from workers.config import PipelineConfig
from workers.machinery.context import StageContext
from workers.machinery.core import Paused
from workers.machinery.deps import CaRegistry, Deps, InstanceRegistry
from workers.machinery.memory import JobInMemory
from workers.sealing import Sealer
from workers.stages import CORES
from workers.store import JobRecord, Store

__all__ = ["FloorResult", "run_floor"]


def _run_one(deps: Deps, raw: Mapping[str, Any]) -> None:
    now = datetime.now(UTC)
    job = JobRecord(
        id=uuid.uuid4().hex,
        state=JobState.RUNNING,
        stage=None,
        request=JobRequest.model_validate(raw),
        created_at=now,
        updated_at=now,
    )
    memory = JobInMemory()
    message: StageMessage = JobAccepted(job_id=job.id)
    for stage in Stage:
        ctx = StageContext(deps, job, stage, memory=memory)
        result = CORES[stage](message, ctx)
        if isinstance(result, Paused):
            raise RuntimeError("the floor needs a synchronous CA")
        memory.record(stage, ctx.made, result.model_dump_json())
        message = result


def _floor_process(
    config_json: str,
    environ: dict[str, str],
    state_dir: str,
    key: str,
    jobs: list[dict[str, Any]],
    ready: Any,
) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    config = PipelineConfig.model_validate_json(config_json)
    sealer = Sealer([key])
    deps = Deps(
        config=config,
        store=cast(Store, None),  # the floor has no store: contexts keep the job in memory
        cas=CaRegistry(config, Path(state_dir), sealer),
        instances=InstanceRegistry(config, environ=environ),
    )
    ready.wait()  # imports done; the clock starts when every floor process is here
    for raw in jobs:
        _run_one(deps, raw)


@dataclass
class FloorResult:
    jobs: int
    processes: int
    wall_s: float
    cpu_s: float

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.wall_s if self.wall_s else 0.0

    @classmethod
    def combined(cls, *parts: FloorResult) -> FloorResult:
        """Several runs as one: their jobs, wall and CPU added up."""
        return cls(
            jobs=sum(p.jobs for p in parts),
            processes=max(p.processes for p in parts),
            wall_s=sum(p.wall_s for p in parts),
            cpu_s=sum(p.cpu_s for p in parts),
        )


def run_floor(
    jobs: list[dict[str, Any]],
    *,
    processes: int,
    config: PipelineConfig,
    environ: Mapping[str, str],
    state_dir: Path,
    master_key: str,
) -> FloorResult:
    if not jobs:
        return FloorResult(jobs=0, processes=processes, wall_s=0.0, cpu_s=0.0)
    spawn = multiprocessing.get_context("spawn")
    shares = [jobs[i::processes] for i in range(processes)]
    ready = spawn.Barrier(processes + 1)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = [
        spawn.Process(
            target=_floor_process,
            args=(
                config.model_dump_json(),
                dict(environ),
                str(state_dir),
                master_key,
                share,
                ready,
            ),
        )
        for share in shares
    ]
    for child in children:
        child.start()
    ready.wait()
    started = time.monotonic()
    for child in children:
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"a floor process failed (exit {child.exitcode})")
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return FloorResult(jobs=len(jobs), processes=processes, wall_s=wall, cpu_s=cpu)
