"""The estate over the API and the CLI: discovery with a read token, adoption and
migration with an operator's, clear refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from ops.dev.stack import Stack, StackOptions


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(StackOptions(broker="stub", estate=True, renewal_every_s=3600)) as running:
        yield running


def test_discovery_needs_only_a_read_token(
    stack: Stack, api: httpx.Client, reader: dict[str, str]
) -> None:
    answer = api.get("/v1/instances/sandbox/estate", headers=reader, params={"probe": "false"})
    assert answer.status_code == 200
    report = answer.json()
    assert report["instance"] == "sandbox" and report["partners"] == []
    assert {m["name"] for m in report["messages"]} >= {"Billing API", "Ledger SOAP"}
    assert "key_store_password" not in answer.text  # never a secret


def test_unknown_instance_is_a_clear_404(api: httpx.Client, reader: dict[str, str]) -> None:
    answer = api.get("/v1/instances/nope/estate", headers=reader)
    assert answer.status_code == 404
    body = answer.json()
    assert body["error"] == "InstanceNotFound" and "sandbox" in body["hint"]


def test_adoption_needs_an_operator_and_a_selection(
    api: httpx.Client, reader: dict[str, str], operator: dict[str, str]
) -> None:
    body = {"ca": "local", "all": True}
    assert api.post("/v1/instances/sandbox/adopt", json=body, headers=reader).status_code == 403
    answer = api.post("/v1/instances/sandbox/adopt", json={"ca": "local"}, headers=operator)
    assert answer.status_code == 400 and answer.json()["hint"]
    answer = api.post("/v1/instances/sandbox/adopt", json={**body, "ca": "x"}, headers=operator)
    assert answer.status_code == 400 and "CA profile" in answer.json()["message"]
    answer = api.post(
        "/v1/instances/sandbox/adopt", json={"ca": "local", "names": ["HR API"]}, headers=operator
    )
    assert answer.status_code == 200
    assert [a["name"] for a in answer.json()["adopted"]] == ["HR API"]
    listed = api.get("/v1/certificates", headers=reader).json()["certificates"]
    assert [c["target"] for c in listed] == ["HR API"]


def test_migration_refuses_an_empty_choice(api: httpx.Client, operator: dict[str, str]) -> None:
    answer = api.post("/v1/instances/sandbox/migrations", json={"ca": "local"}, headers=operator)
    assert answer.status_code == 400


def test_cli_discover_prints_the_table_and_the_findings(stack: Stack) -> None:
    env = {**os.environ, "TWOWAY_URL": stack.gateway.url, "TWOWAY_TOKEN": stack.token}
    command = [sys.executable, "-m", "ops", "discover", "--instance", "sandbox"]
    shown = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "KEYSTORES AND TRUST STORE CERTS" in shown.stdout and "FINDINGS" in shown.stdout
    assert "public_ca_client_certificate" in shown.stdout
    lines = shown.stdout.splitlines()
    [payroll] = [line for line in lines if line.startswith("rest") and "Payroll API" in line]
    assert "mauthpayroll" in payroll and " scheme " in payroll  # on its profile by its scheme
    as_json = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    found = json.loads(as_json.stdout)
    assert found["legacy_properties"]
    assert {m["name"]: m["via"] for m in found["messages"]}["Payroll API"] == "scheme"


def test_console_estate_page(stack: Stack) -> None:
    from tests.ops.console.test_console_pages import signed_in

    browser = signed_in(stack)
    page = browser.get("/ui/estate", params={"instance": "sandbox"})
    assert page.status_code == 200
    assert 'id="findings"' in page.text and "profile_keystore_inactive" in page.text
    assert "billing client (public CA)" in page.text
    assert "Example Trust Services" in page.text
    unsigned = httpx.get(f"{stack.gateway.url}/ui/estate", follow_redirects=False)
    assert unsigned.status_code == 303


def test_unknown_names_jobs_and_batches_are_said(
    api: httpx.Client, reader: dict[str, str], operator: dict[str, str]
) -> None:
    body = {"ca": "local", "names": ["No Such API"]}
    answer = api.post("/v1/instances/sandbox/adopt", json=body, headers=operator).json()
    assert answer["adopted"] == [] and answer["skipped"][0]["name"] == "No Such API"
    body = {"ca": "local", "jobs": ["0" * 32]}
    started = api.post("/v1/instances/sandbox/migrations", json=body, headers=operator).json()
    assert started["started"] == [] and "not a certificate" in started["skipped"][0]["reason"]
    answer = api.get("/v1/instances/sandbox/migrations/abc", headers=reader)
    assert answer.status_code == 404 and answer.json()["hint"]
