"""``POST /v1/plan``: a read token, 200 with the plan whether ready or refused, no write."""

from __future__ import annotations

import httpx

from ops.dev.stack import RunningStack
from tests.e2e.conftest import local_ca
from tests.ops.gateway.conftest import fresh_job
from workers import pki


def test_plan_answers_ready_and_refused_alike_and_writes_nothing(
    stack: RunningStack, api: httpx.Client, reader: dict[str, str]
) -> None:
    request = fresh_job(stack)
    before = stack.sandbox.dump()
    calls = len(stack.sandbox.request_log)
    ready = api.post("/v1/plan", json=request, headers=reader)
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True
    assert [r["what"] for r in ready.json()["creates"]] == ["keystore", "trust", "profile"]
    party = ready.json()["third_party"]
    (root,) = pki.parse_certificates(local_ca(stack).root_pem)
    assert [a["sha256"] for a in party["trust"]] == [pki.sha256_fingerprint(root)]
    assert "/client-certificate" in party["client_certificate"]
    missing = {**request, "target": {"kind": "rest", "name": "No Such API"}}
    refused = api.post("/v1/plan", json=missing, headers=reader)
    assert refused.status_code == 200
    assert refused.json()["ready"] is False
    assert refused.json()["refusals"][0]["message"].startswith("target.name:")
    assert {m for m, _, _ in stack.sandbox.request_log[calls:]} == {"GET"}
    assert stack.sandbox.dump() == before
    assert stack.app.store.list_jobs() == []


def test_plan_needs_a_token(stack: RunningStack, api: httpx.Client) -> None:
    assert api.post("/v1/plan", json=fresh_job(stack)).status_code == 401
