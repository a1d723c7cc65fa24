"""Items 1 and 4 of issue 16: what an unauthenticated CA callback can cost a job.

Against the real gateway process: a job waiting for the shipped ``manual`` CA profile
takes a flood of badly signed callbacks; its history does not grow, the refusals are
counted in a metric, and the flood is throttled (429)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from ops.gateway.throttle import KEPT_PER_JOB
from workers.callback_signing import signed_headers

from .conftest import Gateway

FLOOD = 60  # past the throttle's 30 refusals a minute from one client


def _waiting_job(gateway: Gateway) -> str:
    job: dict[str, Any] = dict(gateway.info["example_job"])
    job["ca"] = {"profile": "manual"}
    answer = httpx.post(f"{gateway.url}/v1/jobs", json=job, headers=gateway.auth(), timeout=30)
    assert answer.status_code in (200, 201, 202), answer.text
    job_id = str(answer.json()["job_id"])
    for _ in range(600):
        state = _job(gateway, job_id)["state"]
        if state == "waiting_for_ca":
            return job_id
        assert state not in ("failed", "succeeded", "cancelled"), state
        time.sleep(0.1)
    raise AssertionError("the job never waited for its CA")


def _job(gateway: Gateway, job_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{gateway.url}/v1/jobs/{job_id}", headers=gateway.auth(), timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def waiting(gateway: Gateway) -> str:
    return _waiting_job(gateway)


def test_a_flood_of_bad_signatures_costs_the_job_nothing(gateway: Gateway, waiting: str) -> None:
    """60 zero-signature callbacks to a waiting job: history unchanged, throttled (429)"""
    before = len(_job(gateway, waiting)["history"])
    url = f"{gateway.url}/v1/jobs/{waiting}/ca-callback"
    statuses = []
    with httpx.Client(timeout=30) as client:
        for _ in range(FLOOD):
            headers = {
                "X-Twoway-Timestamp": str(int(time.time())),
                "X-Twoway-Signature": "sha256=" + "0" * 64,
            }
            statuses.append(client.post(url, content=b"{}", headers=headers).status_code)
    assert set(statuses) <= {401, 429} and 429 in statuses, statuses
    after = _job(gateway, waiting)
    assert len(after["history"]) == before
    assert after["state"] == "waiting_for_ca"
    metrics = httpx.get(f"{gateway.url}/metrics", headers=gateway.auth()).text
    assert 'twoway_callback_refusals_total{status="401"}' in metrics


def test_a_signature_for_another_job_does_not_pass(gateway: Gateway, waiting: str) -> None:
    """a callback signed for job Y, sent to job X: refused, X's history unchanged"""
    before = len(_job(gateway, waiting)["history"])
    body = b'{"certificate": "x"}'
    headers = signed_headers(gateway.callback_secret.encode(), body, job_id="b" * 32)
    answer = httpx.post(
        f"{gateway.url}/v1/jobs/{waiting}/ca-callback", content=body, headers=headers
    )
    assert answer.status_code in (401, 429)
    assert len(_job(gateway, waiting)["history"]) == before


def test_authenticated_refusals_stay_in_the_history_but_bounded(
    gateway: Gateway, waiting: str
) -> None:
    """30 signed callbacks with bad bodies: 400 each, at most 21 kept in the history"""
    url = f"{gateway.url}/v1/jobs/{waiting}/ca-callback"
    secret = gateway.callback_secret.encode()
    with httpx.Client(timeout=30) as client:
        for n in range(30):
            body = b"not json" + b" " * n  # each signature used once
            headers = signed_headers(secret, body, job_id=waiting)
            assert client.post(url, content=body, headers=headers).status_code == 400
    history = _job(gateway, waiting)["history"]
    refused = [e for e in history if e["kind"] == "callback_refused"]
    assert len(refused) == KEPT_PER_JOB + 1
    assert refused[-1]["detail"]["last_kept"] is True


def test_a_deeply_nested_signed_body_is_refused_with_its_reason(
    gateway: Gateway, waiting: str
) -> None:
    """signed callback with JSON nested 100,000 deep: 400 saying so, not 500"""
    body = b"[" * 100_000 + b"]" * 100_000
    headers = signed_headers(gateway.callback_secret.encode(), body, job_id=waiting)
    answer = httpx.post(
        f"{gateway.url}/v1/jobs/{waiting}/ca-callback", content=body, headers=headers
    )
    assert answer.status_code == 400, answer.text
    assert "nested too deeply" in answer.json()["message"]
