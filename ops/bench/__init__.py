"""``twoway bench``: the pipeline against the in-process floor and the keytool runbook.

One run, one stack: N jobs through RabbitMQ with P worker processes (local CA, the
sandbox instance, verify on); the same work in P plain processes (the floor); K jobs of
the scripted runbook; optionally M jobs parked at wait-for-ca and resumed by callbacks.

The floor runs half its jobs before the pipeline and half after: on a machine whose
speed drifts during the run (shared hosts do, by a third and more), both sides are then
measured across the same stretch of time, and the two halves show the drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from messages import KeyType
from ops.bench.floor import FloorResult
from ops.bench.paused import run_paused_phase
from ops.bench.phases import make_jobs, run_floor_phase, run_pipeline_phase
from ops.bench.runbook import run_runbook
from ops.dev.stack import RunningStack, Stack, StackOptions
from workers.errors import ConfigError

__all__ = ["BenchOptions", "run_bench"]


@dataclass
class BenchOptions:
    jobs: int = 50
    key: KeyType = KeyType.EC256
    workers: int = 2
    threads: int = 4
    runbook_jobs: int = 5
    paused: int = 0
    gateway_processes: int = 1  # serving the callbacks of the paused phase
    database_url: str | None = None  # None: a new SQLite file
    timeout_s: float = 1800.0


def run_bench(options: BenchOptions) -> dict[str, Any]:
    stack_options = StackOptions(
        broker="rabbitmq",
        worker_processes=options.workers,
        worker_threads=options.threads,
        database_url=options.database_url,
    )
    with Stack(stack_options) as stack:
        _require_empty(stack)
        # Both phases' messages exist before either runs: they meet one instance of one size.
        pipeline_jobs = make_jobs(stack, options.jobs, options.key, "p")
        floor_jobs = make_jobs(stack, options.jobs, options.key, "f")
        half = len(floor_jobs) // 2
        before = run_floor_phase(stack, floor_jobs[:half], options.workers)
        pipeline = run_pipeline_phase(stack, pipeline_jobs, options.timeout_s)
        after = run_floor_phase(stack, floor_jobs[half:], options.workers)
        floor = FloorResult.combined(before, after)
        paused = (
            run_paused_phase(
                stack, options.paused, options.key, gateway_processes=options.gateway_processes
            )
            if options.paused
            else None
        )
    runbook = run_runbook(options.runbook_jobs, options.key.value)
    pipeline_cpu = pipeline.cpu_s / max(pipeline.jobs, 1)
    result: dict[str, Any] = {
        "jobs": options.jobs,
        "key": options.key.value,
        "workers": options.workers,
        "store": "postgresql" if options.database_url else "sqlite",
        "pipeline_succeeded": pipeline.succeeded,
        "pipeline_failures": pipeline.failures,
        "pipeline_jobs_per_s": round(pipeline.jobs_per_s, 2),
        "floor_jobs_per_s": round(floor.jobs_per_s, 2),
        "floor_halves_jobs_per_s": [round(before.jobs_per_s, 2), round(after.jobs_per_s, 2)],
        "pipeline_to_floor": round(pipeline.jobs_per_s / floor.jobs_per_s, 3),
        "pipeline_cpu_s_per_job": round(pipeline_cpu, 4),
        "pipeline_cpu_breakdown_s": {k: round(v, 2) for k, v in pipeline.cpu_breakdown.items()},
        "floor_cpu_s_per_job": round(floor.cpu_s / max(floor.jobs, 1), 4),
        "runbook_jobs": runbook.jobs,
        "runbook_wall_s_per_job": round(runbook.wall_s_per_job, 3),
        "runbook_cpu_s_per_job": round(runbook.cpu_s_per_job, 3),
        "runbook_to_pipeline_cpu": round(runbook.cpu_s_per_job / pipeline_cpu, 1),
        "worker_peak_rss_mb": round(pipeline.worker_peak_rss_mb, 1),
        "stage_p95_ms": {stage: v["p95"] for stage, v in pipeline.stage_ms.items()},
        "stage_latency_ms": pipeline.stage_ms,
    }
    if paused is not None:
        result.update(
            paused_jobs=paused.jobs,
            paused_broker_messages=paused.broker_messages,
            paused_idle_cpu_pct=paused.idle_cpu_pct,
            paused_broker_idle_cpu_pct=paused.broker_idle_cpu_pct,
            paused_resume_s=paused.resume_s,
            paused_resumed=paused.resumed,
            paused_gateway_processes=paused.gateway_processes,
        )
    return result


def _require_empty(stack: RunningStack) -> None:
    """The bench counts every job of the store as its own: refuse a store holding others."""
    held = sum(stack.app.store.count_jobs().values())
    if held:
        raise ConfigError(
            f"the bench's store already holds {held} jobs",
            hint="give --database-url an empty database (a new one, or a new schema)",
        )
