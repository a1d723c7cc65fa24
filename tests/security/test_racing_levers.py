"""Racing levers: a rollback and a replay of one job sent together, over the API, many
rounds and in both orders. Whoever claims the job first has it; the other is refused
(409) and changes nothing; a rollback that undid records never answers as if it had not,
and nothing the rollback removed comes back afterwards. Both act only when the first had
ended before the second arrived (a replay of verify takes about 30 ms, the longest delay).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from messages import JobState
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.ops.gateway.conftest import fresh_job, kinds, wait_for
from workers.stages.upload_keystore import job_marker

ROUNDS = 8  # per order and case; each round is a fresh job
DELAYS = (0.0, 0.002, 0.01, 0.03)  # how long the second lever waits after the first
SETTLED = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway.url, timeout=60) as client:
        yield client


def _job(stack: RunningStack, api: httpx.Client, case: str) -> tuple[str, str]:
    """A job to race on, and the stage to replay: failed at enable (replay 'enable'), or
    succeeded (replay 'verify')."""
    auth = {"Authorization": f"Bearer {stack.token}"}
    request = fresh_job(stack)
    if case == "failed-at-enable":
        stack.sandbox.forbid("sys_rest_message", "write")
    try:
        job_id = str(api.post("/v1/jobs", json=request, headers=auth).json()["job_id"])
        wait_for(stack, job_id, JobState.FAILED, JobState.SUCCEEDED)
    finally:
        stack.sandbox.allow("sys_rest_message", "write")
    return job_id, "enable" if case == "failed-at-enable" else "verify"


def _race(
    api: httpx.Client, token: str, job_id: str, stage: str, first: str, delay: float
) -> dict[str, httpx.Response]:
    auth = {"Authorization": f"Bearer {token}"}
    calls = {
        "rollback": lambda: api.post(
            f"/v1/jobs/{job_id}/rollback", json={"reason": "race: undo"}, headers=auth
        ),
        "replay": lambda: api.post(
            f"/v1/jobs/{job_id}/replay", json={"stage": stage, "reason": "race"}, headers=auth
        ),
    }
    second = "replay" if first == "rollback" else "rollback"
    gate = threading.Barrier(2)

    def run(name: str, wait: float) -> httpx.Response:
        gate.wait()
        time.sleep(wait)
        return calls[name]()

    with ThreadPoolExecutor(2) as pool:
        futures = {first: pool.submit(run, first, 0.0), second: pool.submit(run, second, delay)}
        return {name: future.result() for name, future in futures.items()}


def _settle(stack: RunningStack, job_id: str) -> None:
    """Until the job has stopped moving and nothing holds it."""
    wait_for(stack, job_id, *SETTLED)
    deadline = time.monotonic() + 30
    while stack.app.store.progress.lease_of(job_id) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # a stage sent late would start within this
    wait_for(stack, job_id, *SETTLED)


@pytest.mark.slow
@pytest.mark.parametrize("first", ["rollback", "replay"])
@pytest.mark.parametrize("case", ["failed-at-enable", "succeeded"])
def test_a_rollback_and_a_replay_sent_together_never_both_act(
    stack: RunningStack, api: httpx.Client, case: str, first: str
) -> None:
    """rollback racing replay (many rounds, both orders): one claims, the other is refused"""
    instance = stack.app.deps.instances.get("sandbox")
    tally = {"rollback won": 0, "replay won": 0, "one after the other": 0}
    for n in range(ROUNDS):
        job_id, stage = _job(stack, api, case)
        answers = _race(api, stack.token, job_id, stage, first, DELAYS[n % len(DELAYS)])
        _settle(stack, job_id)
        codes = {name: answer.status_code for name, answer in answers.items()}
        history = kinds(stack, job_id)
        keystores = instance.keystore_records(job_marker(job_id))
        seen: dict[str, Any] = {"round": n, "codes": codes, "history": history}
        rolled, replayed = codes["rollback"] == 200, codes["replay"] == 202
        assert rolled or replayed, seen
        assert all(code in (200, 202, 409) for code in codes.values()), seen
        if rolled and replayed:
            # Both may act only one after the other: the replayed run had ended (a short
            # one can, within the later lever's delay) before the rollback claimed the job.
            tally["one after the other"] += 1
            asked, claimed = history.index("replay_requested"), history.index("rollback_started")
            ended = {"job_succeeded", "job_failed"} & set(history[asked:claimed])
            assert asked < claimed and ended, seen
        if rolled:
            tally["rollback won"] += 1
            assert "rolled_back" in history and stack.app.store.get_job(job_id).state is (
                JobState.CANCELLED
            ), seen
            claimed = history.index("rollback_started")
            assert "stage_started" not in history[claimed:], seen  # nothing ran after the claim
            assert keystores == [], seen  # and nothing came back
        else:  # the replay holds the job: the rollback was refused and changed nothing
            tally["replay won"] += 1
            assert answers["rollback"].json()["error"] == "StateConflict", seen
            assert "undone" not in history and "rollback_started" not in history, seen
            assert keystores != [], seen  # the replayed job's keystore is there, untouched
    print(f"\n{case}, {first} first: {ROUNDS} rounds, {tally}")
