"""The gateway over real HTTP on a running stack: health, a job with its history, errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from messages import JobState
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.views.jobview import follow


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


def test_healthz_answers(stack: RunningStack) -> None:
    answer = httpx.get(f"{stack.gateway.url}/healthz")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def auth(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


def test_a_job_reads_back_with_its_history(stack: RunningStack) -> None:
    job, _ = stack.app.submit(stack.example_job())
    follow(stack.app.store, job.id, lambda line: None, timeout=120)
    answer = httpx.get(f"{stack.gateway.url}/v1/jobs/{job.id}", headers=auth(stack))
    assert answer.status_code == 200
    body = answer.json()
    assert body["state"] == JobState.SUCCEEDED.value and body["stage"] == "verify"
    kinds = [event["kind"] for event in body["history"]]
    assert kinds[0] == "job_accepted" and kinds[-1] == "job_succeeded"
    assert all("at" in event for event in body["history"])


def test_an_unknown_job_is_404_with_a_reason(stack: RunningStack) -> None:
    answer = httpx.get(f"{stack.gateway.url}/v1/jobs/{'0' * 32}", headers=auth(stack))
    assert answer.status_code == 404
    assert answer.json()["error"] == "JobNotFound"


def test_a_malformed_job_id_is_422(stack: RunningStack) -> None:
    answer = httpx.get(f"{stack.gateway.url}/v1/jobs/not-an-id", headers=auth(stack))
    assert answer.status_code == 422 and "job_id" in answer.json()["message"]


def test_openapi_is_served(stack: RunningStack) -> None:
    answer = httpx.get(f"{stack.gateway.url}/openapi.json")
    assert answer.status_code == 200 and "/v1/jobs/{job_id}" in answer.json()["paths"]
