"""``twoway bench --instance-latency-ms L``: the pipeline against an instance that answers
as real ones do (each call takes about L ms; at most C calls at once, the rest queue).

Printed: the throughput the instance allows, ``C / (calls per job x L)``, and the
pipeline's against it; jobs' p50/p95 end-to-end latency against the floor's one job at
the same latency; the most calls the sandbox ever had in flight; and, with a second, slow
instance, the fast instance's throughput while the slow one is saturated, against its
throughput alone.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from messages import TERMINAL_STATES, JobState, KeyType
from ops.bench.phases import make_jobs, progress, run_floor_phase
from ops.bench.stats import percentile
from ops.dev.sandbox import Pacing, SandboxServer
from ops.dev.stack import SECOND, RunningStack, Stack, StackOptions
from workers.errors import InstanceBusy
from workers.store import JobRecord

__all__ = ["LatencyOptions", "run_latency_bench"]


@dataclass
class LatencyOptions:
    jobs: int = 200
    key: KeyType = KeyType.EC256
    workers: int = 2
    threads: int = 8
    latency_ms: float = 150.0
    spread: float = 0.5  # latencies uniform in L x (1 +- spread): the mean is L
    concurrency: int = 8  # the instance's own limit (calls past it queue)
    limit: int | None = None  # twoway's max_concurrent_calls (None: the instance's C)
    slow_latency_ms: float | None = None  # a second instance this slow: the fairness run
    slow_jobs: int = 0  # its jobs (default: as many as the fast instance's)
    database_url: str | None = None
    timeout_s: float = 1800.0


def _pacing(latency_ms: float, spread: float, concurrency: int) -> Pacing:
    return Pacing(
        distribution="uniform",
        low_ms=latency_ms * (1 - spread),
        high_ms=latency_ms * (1 + spread),
        concurrency=concurrency,
        overflow="queue",
    )


def _submit(stack: RunningStack, jobs: list[dict[str, Any]]) -> list[str]:
    """Submit 8 at a time, as several gateway clients would (admission calls the instance),
    and submit again after a 503 (``InstanceBusy``: the workers hold every slot)."""
    app = stack.app

    def submit(raw: dict[str, Any]) -> str:
        while True:
            try:
                return app.submit(raw)[0].id
            except InstanceBusy:
                time.sleep(1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(submit, jobs))


def _wait(stack: RunningStack, ids: list[str], timeout: float) -> list[JobRecord]:
    """Wait until every job of ``ids`` has ended; their records."""
    store = stack.app.store
    deadline = time.monotonic() + timeout
    while True:
        records = [store.get_job(job_id) for job_id in ids]
        done = sum(r.state in TERMINAL_STATES for r in records)
        progress(done, len(ids), "pipeline")
        if done >= len(ids) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def _throughput(records: list[JobRecord], started: float) -> float:
    ok = [r for r in records if r.state is JobState.SUCCEEDED]
    if not ok:
        return 0.0
    return len(ok) / (max(r.updated_at.timestamp() for r in ok) - started)


def _e2e_s(records: list[JobRecord]) -> list[float]:
    return [
        (r.updated_at - r.created_at).total_seconds()
        for r in records
        if r.state is JobState.SUCCEEDED
    ]


def _fairness(stack: RunningStack, options: LatencyOptions, solo: float) -> dict[str, Any]:
    """The fast instance's jobs again, while the slow instance has a backlog of its own."""
    slow_count = options.slow_jobs or options.jobs
    slow = make_jobs(stack, slow_count, options.key, "s", instance=SECOND)
    fast = make_jobs(stack, options.jobs, options.key, "g")
    stack.second.pacer.reset_peak()
    slow_ids = _submit(stack, slow)  # first: the slow instance is saturated before
    started = time.time()
    shared = _throughput(_wait(stack, _submit(stack, fast), options.timeout_s), started)
    slow_records = [stack.app.store.get_job(job_id) for job_id in slow_ids]
    slow_done = sum(r.state in TERMINAL_STATES for r in slow_records)
    return {
        "slow_instance_latency_ms": options.slow_latency_ms,
        "fast_solo_jobs_per_s": round(solo, 2),
        "fast_with_slow_saturated_jobs_per_s": round(shared, 2),
        "fast_kept_share": round(shared / solo, 3) if solo else 0.0,
        "slow_jobs_done_meanwhile": f"{slow_done}/{slow_count}",
        "slow_instance_max_in_flight": stack.second.max_in_flight,
    }


def run_latency_bench(options: LatencyOptions) -> dict[str, Any]:
    limit = options.limit or options.concurrency
    pacing = _pacing(options.latency_ms, options.spread, options.concurrency)
    slow_pacing = (
        _pacing(options.slow_latency_ms, options.spread, options.concurrency)
        if options.slow_latency_ms
        else None
    )
    stack_options = StackOptions(
        broker="rabbitmq",
        worker_processes=options.workers,
        worker_threads=options.threads,
        database_url=options.database_url,
        sandbox_pacing=pacing,
        max_concurrent_calls=limit,
        second_instance=slow_pacing,
    )
    with Stack(stack_options) as stack:
        floor_calls = stack.sandbox.pacer.served
        floor_s = run_floor_phase(stack, make_jobs(stack, 1, options.key, "f"), 1).wall_s
        floor_calls = stack.sandbox.pacer.served - floor_calls
        jobs = make_jobs(stack, options.jobs, options.key, "p")
        sandbox: SandboxServer = stack.sandbox
        sandbox.pacer.reset_peak()
        served_before, started = sandbox.pacer.served, time.time()
        records = _wait(stack, _submit(stack, jobs), options.timeout_s)
        calls_per_job = (sandbox.pacer.served - served_before) / max(len(jobs), 1)
        throughput = _throughput(records, started)
        allowed = options.concurrency / (calls_per_job * options.latency_ms / 1000)
        e2e = _e2e_s(records)
        result: dict[str, Any] = {
            "jobs": options.jobs,
            "key": options.key.value,
            "workers": options.workers,
            "threads": options.threads,
            "instance_latency_ms": options.latency_ms,
            "instance_concurrency": options.concurrency,
            "max_concurrent_calls": limit,
            "succeeded": sum(r.state is JobState.SUCCEEDED for r in records),
            "calls_per_job": round(calls_per_job, 1),
            "floor_calls_one_job": floor_calls,  # with the instance's discovery, once
            "instance_limit_jobs_per_s": round(allowed, 2),
            "pipeline_jobs_per_s": round(throughput, 2),
            "pipeline_to_instance_limit": round(throughput / allowed, 3),
            "job_p50_s": round(percentile(e2e, 50), 2),
            "job_p95_s": round(percentile(e2e, 95), 2),
            "floor_one_job_s": round(floor_s, 2),
            "p50_to_floor_one_job": round(percentile(e2e, 50) / floor_s, 2) if floor_s else 0.0,
            "sandbox_max_in_flight": sandbox.max_in_flight,
        }
        if slow_pacing is not None:
            result.update(_fairness(stack, options, throughput))
    return result
