"""A bulk migration in waves, on the estate sandbox: each wave starts only when the one
before ended well (a scheduler round starts it); a failed or cancelled renewal halts the
batch until an operator continues it or stops what is still queued."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.e2e.conftest import local_ca
from workers.levers.replay import cancel
from workers.levers.scheduler import RenewalScheduler

FINDING = "public_ca_client_certificate"


@pytest.fixture
def stack() -> Iterator[RunningStack]:
    options = StackOptions(
        broker="stub",
        estate=True,
        partner_trusts_ca=False,  # the partners trust the public CA, not twoway's yet
        probe_every_s=1.0,
        poll_every_s=0.5,
        renewal_every_s=3600.0,  # the test runs the scheduler's rounds itself
    )
    with Stack(options) as running:
        yield running


@pytest.fixture
def api(stack: RunningStack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {stack.token}"}
    with httpx.Client(base_url=stack.gateway.url, headers=headers, timeout=120) as client:
        yield client


def progress(api: httpx.Client, batch: str) -> dict[str, Any]:
    answer = api.get(f"/v1/instances/sandbox/migrations/{batch}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_for(
    api: httpx.Client, batch: str, until: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while not until(seen := progress(api, batch)):
        assert time.monotonic() < deadline, seen
        time.sleep(0.3)
    return seen


def states(seen: dict[str, Any]) -> list[tuple[int, str]]:
    return [(j["wave"], j["state"]) for j in seen["jobs"]]


def test_each_wave_starts_when_the_one_before_succeeded(
    stack: RunningStack, api: httpx.Client
) -> None:
    assert api.post("/v1/instances/sandbox/adopt", json={"ca": "local", "all": True}).is_success
    body = {"ca": "local", "finding": FINDING, "wave_size": 1, "reason": "public CAs stop"}
    started = api.post("/v1/instances/sandbox/migrations", json=body).json()
    print("started:", started)
    assert len(started["started"]) == 1 and len(started["queued"]) == 1
    batch = started["batch"]
    first = wait_for(api, batch, lambda p: "waiting_for_third_party" in dict(states(p)).values())
    assert states(first) == [(0, "waiting_for_third_party"), (1, "queued")]
    assert first["wave"] == 0 and first["waves"] == 2 and first["halted"] is False

    scheduler = RenewalScheduler(stack.app)
    assert scheduler.run_once().waves == {}  # wave 0 is still waiting for its partner
    assert states(progress(api, batch))[1] == (1, "queued")

    root = local_ca(stack).root_pem
    stack.third_party.trust(root)
    stack.partner.trust(root)
    wait_for(api, batch, lambda p: p["jobs"][0]["state"] == "succeeded")
    assert scheduler.run_once().waves == {batch: 1}
    assert scheduler.run_once().waves == {}  # started once, however often a round runs
    done = wait_for(api, batch, lambda p: p["done"] == p["total"])
    print("done:", done)
    assert states(done) == [(0, "succeeded"), (1, "succeeded")] and done["halted"] is False
    kinds = [e.kind for j in done["jobs"] for e in stack.app.store.history(j["job_id"])]
    assert kinds.count("migration_started") == 2


def test_a_cancelled_renewal_halts_the_batch_until_an_operator_continues_or_stops_it(
    stack: RunningStack, api: httpx.Client
) -> None:
    assert api.post("/v1/instances/sandbox/adopt", json={"ca": "local", "all": True}).is_success
    body = {"ca": "local", "all": True, "wave_size": 1, "reason": "move everything"}
    started = api.post("/v1/instances/sandbox/migrations", json=body).json()
    batch = started["batch"]
    assert len(started["started"]) == 1 and len(started["queued"]) >= 2, started
    [first] = started["started"]
    cancel(stack.app.store, first["renewal"], reason="the partner asked to wait", actor="test")

    scheduler = RenewalScheduler(stack.app)
    assert scheduler.run_once().waves == {}
    halted = progress(api, batch)
    print("halted:", halted)
    assert halted["halted"] is True and halted["counts"]["cancelled"] == 1
    assert [state for _, state in states(halted)[1:]] == ["queued"] * (len(states(halted)) - 1)

    refused = api.post(f"/v1/instances/sandbox/migrations/{batch}/stop", json={"reason": "\x1b"})
    assert refused.status_code in (400, 422), refused.text
    going = api.post(f"/v1/instances/sandbox/migrations/{batch}/continue")
    assert going.status_code == 200, going.text
    assert going.json()["wave"] == 1 and going.json()["halted"] is False
    again = api.post(f"/v1/instances/sandbox/migrations/{batch}/continue")
    assert again.status_code == 409  # wave 1 is running: the next one starts by itself
    print("continue again:", again.json())

    env = {**os.environ, "TWOWAY_URL": stack.gateway.url, "TWOWAY_TOKEN": stack.token}
    command = [sys.executable, "-m", "ops", "migrate", "--instance", "sandbox", "--ca", "local"]
    usage = subprocess.run([*command, "--stop"], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "--batch" in usage.stderr, usage.stderr
    stopped = subprocess.run(
        [*command, "--batch", batch, "--stop", "--reason", "enough", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert stopped.returncode == 1, stopped.stderr  # the table: the batch has a cancelled one
    after = json.loads(stopped.stdout)
    print("stopped:", after["counts"])
    withdrawn = [j for j in after["jobs"] if j["state"] == "withdrawn"]
    assert len(withdrawn) == len(after["jobs"]) - 2 and "enough" in withdrawn[0]["note"]
    assert scheduler.run_once().waves == {}  # nothing queued is left to start
    unknown = api.get("/v1/instances/sandbox/migrations/000000000000")
    assert unknown.status_code == 404
