"""A running stack (sandbox, third party, store, workers on dramatiq's stub broker) and its
gateway over real HTTP, shared by the gateway's tests of one module."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from messages import JobState, KeyType
from ops.dev.stack import RunningStack, Stack, StackOptions
from workers.store import JobRecord


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


@pytest.fixture(scope="module")
def operator(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


@pytest.fixture(scope="module")
def reader(stack: RunningStack) -> dict[str, str]:
    _, token = stack.app.store.tokens.create("a reader", "read")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        yield client


def wait_for(
    stack: RunningStack, job_id: str, *states: JobState, timeout: float = 120
) -> JobRecord:
    """The job once it is in one of ``states`` (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        job = stack.app.store.get_job(job_id)
        if job.state in states:
            return job
        assert time.monotonic() < deadline, f"job {job_id} stayed {job.state.value}"
        time.sleep(0.05)


def kinds(stack: RunningStack, job_id: str) -> list[str]:
    return [event.kind for event in stack.app.store.history(job_id)]


def events(stack: RunningStack, job_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        event.model_dump(mode="json")
        for event in stack.app.store.history(job_id)
        if event.kind == kind
    ]


def fresh_job(stack: RunningStack) -> dict[str, Any]:
    """A job request that succeeds on the stack, with a REST message and names of its own
    (so that jobs of one module never share a keystore record or protocol profile)."""
    tag = secrets.token_hex(4)
    name = f"API {tag}"
    stack.sandbox.add_rest_message(name, stack.third_party.url)
    return stack.example_job(
        KeyType.EC256,
        target={"kind": "rest", "name": name},
        keystore={"record_name": f"twoway {tag}", "alias": "twoway"},
        protocol_profile={"name": f"mauth{tag}", "port": stack.third_party.port},
    )
