"""The fault suite: real RabbitMQ, real worker processes, real kills.

Each case adds one row to the table printed at the end of the run: case, jobs,
succeeded, duplicate records in the sandbox, certificates signed beyond one per job,
jobs lost.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from messages import JobState, Stage
from ops.cli.output import table
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.e2e.conftest import Partner, add_partners, job_for, local_ca
from workers.config import load_config

ROWS: list[tuple[str, int, int, int, int, int]] = []


@dataclass
class Outcome:
    jobs: int
    succeeded: int
    duplicates: int
    extra_signed: int
    lost: int

    def row(self, case: str) -> tuple[str, int, int, int, int, int]:
        return (case, self.jobs, self.succeeded, self.duplicates, self.extra_signed, self.lost)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        headers = ["case", "jobs", "succeeded", "duplicate records", "extra signed", "lost"]
        terminalreporter.write_sep("=", "fault suite")
        terminalreporter.write_line(table(ROWS, headers))


def fault_config(*, lease_s: float = 3.0):  # type: ignore[no-untyped-def]
    config = load_config()
    broker = config.broker.model_copy(
        update={
            "lease_s": lease_s,
            "min_backoff_ms": 200,
            "max_backoff_ms": 2000,
            "sweep_every_s": 2.0,
            "sweep_quiet_s": 20.0,
        }
    )
    return config.model_copy(update={"broker": broker})


@pytest.fixture
def fault_stack(request: pytest.FixtureRequest) -> Iterator[RunningStack]:
    chaos = tuple(getattr(request, "param", ()))
    stack = Stack(
        StackOptions(
            broker="rabbitmq",
            worker_processes=2,
            worker_threads=4,
            chaos=chaos,
            config=fault_config(),
        )
    )
    with stack.start() as stack:
        yield stack


def workers_alive(stack: RunningStack) -> list[int]:
    return [p.pid for p in stack.processes if p.poll() is None]


def keep_workers(stack: RunningStack, count: int = 2) -> None:
    """Start replacements for dead worker processes (what a supervisor does)."""
    while len(workers_alive(stack)) < count:
        stack.spawn_worker("--threads", "4")


def kill_worker_in(stack: RunningStack, stage: Stage, timeout: float = 60) -> int:
    """SIGKILL a worker process while it holds a job's lease in ``stage``; its pid."""
    deadline = time.monotonic() + timeout
    alive = set(workers_alive(stack))
    while time.monotonic() < deadline:
        for _job_id, held in stack.app.store.progress.leases():
            pid = int(held.owner.split(":")[1]) if held.owner.count(":") == 2 else 0
            if held.stage == stage.value and pid in alive:
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no worker was seen in stage {stage.value}")


def submit(stack: RunningStack, partners: list[Partner]) -> dict[str, Partner]:
    jobs = {}
    for partner in partners:
        job, _ = stack.app.submit(job_for(stack, partner))
        jobs[job.id] = partner
    return jobs


def settle(stack: RunningStack, jobs: dict[str, Partner], timeout: float = 240) -> Outcome:
    """Keep workers alive until every job ends (or time runs out); count the damage."""
    store = stack.app.store
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keep_workers(stack)
        states = [store.get_job(job_id).state for job_id in jobs]
        if all(s in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED) for s in states):
            break
        time.sleep(0.25)
    states = [store.get_job(job_id).state for job_id in jobs]
    for job_id in jobs:  # say where an unfinished or failed job stands, for the log
        job = store.get_job(job_id)
        if job.state is not JobState.SUCCEEDED:
            tail = [(e.kind, e.stage.value if e.stage else None) for e in store.history(job_id)]
            print(f"job {job_id} {job.state.value} at {job.stage}: {job.error} {tail[-8:]}")
    dump = stack.sandbox.dump()
    records = [r for r in dump["sys_certificate"] if r["name"].startswith("twoway ")]
    expected = 2 * len(jobs)  # one keystore and one trust record per job
    profiles = len(dump["sys_protocol_profile"])
    attachments = len(dump["sys_attachment"])
    duplicates = max(0, len(records) - expected) + max(0, profiles - len(jobs))
    duplicates += max(0, attachments - len(jobs))
    return Outcome(
        jobs=len(jobs),
        succeeded=sum(s is JobState.SUCCEEDED for s in states),
        duplicates=duplicates,
        extra_signed=local_ca(stack).issued_count() - len(jobs),
        lost=sum(
            s not in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED) for s in states
        ),
    )


def record(case: str, outcome: Outcome) -> None:
    ROWS.append(outcome.row(case))
    assert outcome.succeeded == outcome.jobs, outcome
    assert (outcome.duplicates, outcome.extra_signed, outcome.lost) == (0, 0, 0), outcome


__all__ = ["add_partners", "kill_worker_in", "record", "settle", "submit"]
