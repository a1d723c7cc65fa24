"""Must show: a message exhausts its retries, shows in ``twoway dead-letters list``, is
replayed once the cause is fixed, and its job completes (worker processes, RabbitMQ).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from messages import JobState, Stage
from ops.dev.sandbox import FaultPlan
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.rabbitmq.dead_letters import DeadLetters
from ops.views.jobview import follow
from workers.config import PipelineConfig, load_config

# The instance rate-limits every write to the REST message: enable fails, fast.
ENABLE_WRITES_REFUSED = FaultPlan(
    rate=1.0,
    kinds=("429",),
    retry_after=0,
    paths=("/api/now/table/sys_rest_message", "/api/now/v2/table/sys_rest_message"),
    methods=("PATCH", "PUT", "POST"),
)


def impatient_config() -> PipelineConfig:
    """enable gives up after one retry, with short backoffs."""
    raw = load_config().model_dump(mode="json")
    raw["broker"].update(min_backoff_ms=50, max_backoff_ms=200)
    for stage in raw["stages"]:
        if stage["name"] == Stage.ENABLE.value:
            stage["max_retries"] = 1
    return PipelineConfig.model_validate(raw)


@pytest.fixture
def stack() -> Iterator[RunningStack]:
    options = StackOptions(broker="rabbitmq", worker_processes=0, config=impatient_config())
    with Stack(options) as running:
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def scrape(url: str, token: str | None = None) -> dict[tuple[str, tuple[str, ...]], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for _ in range(100):  # the worker's endpoint comes up with the process
        try:
            answer = httpx.get(url, headers=headers, timeout=10)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    return {
        (s.name, tuple(f"{k}={v}" for k, v in sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, tuple[str, ...]], float], name: str, *labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels) <= set(ls))


_TOKENS: dict[int, str] = {}


def twoway(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as operator ops-bob, with the gateway's URL and bob's token only."""
    if id(stack) not in _TOKENS:
        _TOKENS[id(stack)] = stack.app.store.tokens.create("ops-bob", "operator")[1]
    token = _TOKENS[id(stack)]
    env = {**os.environ, "TWOWAY_URL": stack.gateway.url, "TWOWAY_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "ops", *args], env=env, capture_output=True, text=True, timeout=60
    )


def wait_for_dead_letter(stack: RunningStack, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = json.loads(twoway(stack, "dead-letters", "list", "--json").stdout)
        mine = [row for row in listing["dead_letters"] if row["job_id"] == job_id]
        if mine:
            return mine[0]
        time.sleep(0.5)
    raise AssertionError(f"no dead letter for job {job_id}")


def test_exhausted_retries_land_in_dead_letters_and_a_replay_completes_the_job(
    stack: RunningStack,
) -> None:
    store = stack.app.store
    port = free_port()
    stack.spawn_worker("--threads", "4", "--metrics-port", str(port))
    stack.sandbox.faults.set(ENABLE_WRITES_REFUSED)
    job, _ = stack.app.submit(stack.example_job())
    failed = follow(store, job.id, lambda _: None, timeout=120)
    assert failed.state is JobState.FAILED and failed.stage is Stage.ENABLE
    assert failed.attempts["enable"] == 2  # the first try and one retry

    row = wait_for_dead_letter(stack, job.id)
    assert row["stage"] == "enable" and row["retries"] == 1
    assert "429" in row["error"] or "rate" in row["error"].lower()
    assert row["expires_in_s"] > 6 * 86400  # RabbitMQ keeps it for dramatiq's 7 days

    gateway = scrape(f"{stack.gateway.url}/metrics", stack.token)
    assert value(gateway, "twoway_dead_letters_up") == 1
    assert value(gateway, "twoway_dead_letters", "stage=enable") == 1
    assert value(gateway, "twoway_dead_letter_expires_in_seconds", "stage=enable") > 6 * 86400
    worker = scrape(f"http://127.0.0.1:{port}/metrics")  # dramatiq's middleware and ours
    assert value(worker, "dramatiq_message_rejects_total", "actor_name=enable") == 1
    assert value(worker, "dramatiq_message_errors_total", "actor_name=enable") == 2
    stage = "twoway_stage_duration_seconds_count"
    assert value(worker, stage, "stage=enable", "outcome=retried") == 1
    assert value(worker, stage, "stage=enable", "outcome=failed") == 1
    assert value(worker, "twoway_servicenow_errors_total", "status=429") >= 2

    stack.sandbox.faults.clear()  # the cause is fixed
    replay = twoway(stack, "dead-letters", "replay", "--job", job.id, "--reason", "quota raised")
    assert replay.returncode == 0, replay.stderr
    done = follow(store, job.id, lambda _: None, timeout=120)
    assert done.state is JobState.SUCCEEDED, done.error

    kinds = [event.kind for event in store.history(job.id)]
    assert kinds.count("stage_failed") == 1 and kinds[-1] == "job_succeeded"
    [revived] = [e for e in store.history(job.id) if e.kind == "dead_letter_replayed"]
    assert revived.detail["actor"].startswith("token:ops-bob (")
    assert revived.detail["reason"] == "quota raised"
    assert store.get_job(job.id).attempts["enable"] == 3
    dead = DeadLetters(stack.options.broker.url, stack.app.runtime.routes, store)
    assert dead.peek() == []
    gateway = scrape(f"{stack.gateway.url}/metrics", stack.token)
    assert value(gateway, "twoway_dead_letters", "stage=enable") == 0
    assert value(gateway, "twoway_jobs", "state=succeeded") == 1
    check_worker_log(stack, job.id)


def check_worker_log(stack: RunningStack, job_id: str) -> None:
    """One JSON line per message and outcome, with job, stage, message id and duration."""
    lines = [json.loads(line) for line in (stack.state_dir / "worker.log").read_text().splitlines()]
    outcomes = ("stage_completed", "stage_retry", "stage_failed")
    mine = [line for line in lines if line.get("job_id") == job_id and line["event"] in outcomes]
    assert all({"stage", "message_id", "duration_ms"} <= set(line) for line in mine)
    completed = [line["stage"] for line in mine if line["event"] == "stage_completed"]
    assert completed == [stage.value for stage in Stage]  # each stage once, in order
    enable = [line["event"] for line in mine if line["stage"] == "enable"]
    assert enable == ["stage_retry", "stage_failed", "stage_completed"]
    # dramatiq retries a message under its id, and the replay kept it: one per stage
    assert len({line["message_id"] for line in mine if line["stage"] == "enable"}) == 1
    assert len({line["message_id"] for line in mine}) == len(Stage)
