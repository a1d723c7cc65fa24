"""The benchmark's phases on one stack: pipeline, floor, paused jobs."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from messages import TERMINAL_STATES, JobState, KeyType
from ops.bench.floor import FloorResult, run_floor
from ops.bench.procstat import cpu_seconds, peak_rss_mb, rabbitmq_pid
from ops.bench.stats import percentile, stage_latencies
from ops.dev.stack import RunningStack
from workers.store import JobRecord

__all__ = ["PipelineResult", "make_jobs", "run_floor_phase", "run_pipeline_phase"]


def make_jobs(
    stack: RunningStack, count: int, key: KeyType, tag: str, *, instance: str = "sandbox"
) -> list[dict[str, Any]]:
    """``count`` job requests, each with its own REST message, keystore and profile."""
    server = stack.sandbox if instance == "sandbox" else stack.second
    jobs = []
    for index in range(count):
        name = f"Bench {tag} {index}"
        server.add_rest_message(name, stack.third_party.url, methods=("get", "post"))
        jobs.append(
            stack.example_job(
                key,
                instance=instance,
                target={"kind": "rest", "name": name},
                keystore={"record_name": f"twoway bench {tag} {index}", "alias": "twoway"},
                protocol_profile={"name": f"bench{tag}{index}", "port": stack.third_party.port},
            )
        )
    return jobs


_shown: dict[str, int] = {}


def progress(done: int, total: int, label: str) -> None:
    """A progress bar on stderr, redrawn only when the count moves."""
    if _shown.get(label) == done:
        return
    _shown[label] = done
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\r  {label:<9} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stderr.flush()
    if done >= total:
        sys.stderr.write("\n")


@dataclass
class PipelineResult:
    jobs: int
    succeeded: int
    wall_s: float
    cpu_s: float
    cpu_breakdown: dict[str, float]
    worker_peak_rss_mb: float
    stage_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def jobs_per_s(self) -> float:
        return self.succeeded / self.wall_s if self.wall_s else 0.0


def _wait_terminal(stack: RunningStack, total: int, timeout: float) -> None:
    """Wait until ``total`` jobs ended, with one cheap count per poll: watching must not
    load the store the pipeline is measured on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = stack.app.store.count_jobs()
        done = sum(counts.get(state.value, 0) for state in TERMINAL_STATES)
        progress(min(done, total), total, "pipeline")
        if done >= total:
            return
        time.sleep(0.5)


def run_pipeline_phase(
    stack: RunningStack, jobs: list[dict[str, Any]], timeout: float
) -> PipelineResult:
    pids = [p.pid for p in stack.processes]
    broker = rabbitmq_pid()
    cpu_before = {pid: cpu_seconds(pid) for pid in pids}
    broker_before = cpu_seconds(broker) if broker else 0.0
    already = sum(stack.app.store.count_jobs().get(s.value, 0) for s in TERMINAL_STATES)
    started_at, submit_cpu = time.time(), time.thread_time()
    ids = [stack.app.submit(raw)[0].id for raw in jobs]
    submit_cpu = time.thread_time() - submit_cpu
    _wait_terminal(stack, already + len(ids), timeout)
    store = stack.app.store
    records = [store.get_job(job_id) for job_id in ids]
    last = max(r.updated_at for r in records).timestamp()
    wall = last - started_at
    workers_cpu = sum(cpu_seconds(pid) - cpu_before[pid] for pid in pids)
    broker_cpu = (cpu_seconds(broker) - broker_before) if broker else 0.0
    latencies = stage_latencies(store.history(job_id) for job_id in ids)
    return PipelineResult(
        jobs=len(ids),
        succeeded=sum(r.state is JobState.SUCCEEDED for r in records),
        wall_s=wall,
        cpu_s=workers_cpu + broker_cpu + submit_cpu,
        cpu_breakdown={"workers": workers_cpu, "broker": broker_cpu, "submit": submit_cpu},
        worker_peak_rss_mb=max(peak_rss_mb(pid) for pid in pids),
        stage_ms={
            stage: {f"p{q}": round(percentile(values, q), 1) for q in (50, 95, 99)}
            for stage, values in latencies.items()
        },
        failures=_failures(records),
    )


def _failures(records: list[JobRecord]) -> dict[str, int]:
    """Why jobs did not succeed, counted: '<state> at <stage>: <message>'."""
    reasons: Counter[str] = Counter()
    for record in records:
        if record.state is not JobState.SUCCEEDED:
            error = record.error or {}
            stage = error.get("stage") or (record.stage.value if record.stage else "-")
            reasons[f"{record.state.value} at {stage}: {error.get('message', '')}"[:300]] += 1
    return dict(reasons)


def run_floor_phase(stack: RunningStack, jobs: list[dict[str, Any]], processes: int) -> FloorResult:
    environ = {k: v for k, v in stack.environ.items() if k.startswith("TWOWAY_")}
    return run_floor(
        jobs,
        processes=processes,
        config=stack.config,
        environ=environ,
        state_dir=stack.state_dir,
        master_key=stack.master_key,
    )
