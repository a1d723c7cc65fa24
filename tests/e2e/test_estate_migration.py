"""The estate end to end on real RabbitMQ: discover the estate sandbox, adopt everything,
bulk-migrate the public-CA integrations to the local CA with the partner pause. Every
message is proven before its switch and never points at a broken configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ops.dev.sandbox.rules import keystore_error
from ops.dev.stack import Stack, StackOptions
from tests.e2e.conftest import local_ca
from workers.pki import mtls_request, open_jks, parse_certificates

MIGRATED = {"Billing API": "mauthbilling", "Shipping API": "mauthshipping"}
PUBLIC = "Example Trust Services"
LIMIT = 2  # the instance's max_concurrent_calls


@pytest.fixture
def stack() -> Iterator[Stack]:
    options = StackOptions(
        broker="rabbitmq",
        worker_processes=2,
        estate=True,
        partner_trusts_ca=False,  # the partners trust the public CA, not twoway's yet
        probe_every_s=1.0,
        poll_every_s=0.5,
        renewal_every_s=3600.0,
        max_concurrent_calls=LIMIT,
    )
    with Stack(options) as running:
        yield running


class Watch(threading.Thread):
    """Samples the instance: each migrated message stays on its profile, and the profile's
    keystore is always active, loads with its password, and comes from a CA its partner
    trusts at that moment."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack, self.trusting = stack, {"Billing API": False, "Shipping API": False}
        self.problems: list[str] = []
        self.seen: dict[str, list[str]] = {name: [] for name in MIGRATED}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.02):
            self.sample()

    def sample(self) -> None:
        store = self.stack.sandbox.store
        with store.lock:
            for name, protocol in MIGRATED.items():
                [profile] = store.find("sys_protocol_profile", "protocol", protocol)
                [message] = store.find("sys_rest_message", "name", name)
                if (
                    message["protocol_name"] != profile["sys_id"]
                    or message["use_mutual_auth"] != "true"
                ):
                    self.problems.append(f"{name} left its profile")
                record = store.rows["sys_certificate"].get(profile["keystore"])
                if record is None or record["active"] != "true" or keystore_error(store, record)[0]:
                    self.problems.append(f"{protocol} points at a broken keystore")
                    continue
                if PUBLIC not in record["issuer"] and not self.trusting[name]:
                    self.problems.append(f"{protocol} switched before its partner trusted the CA")
                if not self.seen[name] or self.seen[name][-1] != record["sys_id"]:
                    self.seen[name].append(record["sys_id"])


def cli(stack: Stack, *args: str) -> Any:
    env = {**os.environ, "TWOWAY_URL": stack.gateway.url, "TWOWAY_TOKEN": stack.token}
    done = subprocess.run(
        [sys.executable, "-m", "ops", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def writes(stack: Stack) -> list[tuple[str, str, int]]:
    return [call for call in stack.sandbox.request_log if call[0] not in ("GET", "HEAD")]


def call_through_profile(stack: Stack, protocol: str, endpoint: str, server_pem: bytes) -> int:
    """What the instance does when the message is called: mTLS with the profile's keystore."""
    dump = stack.sandbox.dump()
    [profile] = [p for p in dump["sys_protocol_profile"] if p["protocol"] == protocol]
    attachments = [a for a in dump["sys_attachment"] if a["table_sys_id"] == profile["keystore"]]
    newest = max(attachments, key=lambda a: a["sys_created_on"])
    data = stack.sandbox.store.blobs[newest["sys_id"]]
    password = stack.sandbox.store.secrets[
        ("sys_certificate", profile["keystore"], "key_store_password")
    ]
    contents = open_jks(data, password, "twoway")
    result = mtls_request(
        endpoint,
        private_key_pem=contents.private_key_pem,
        chain=contents.chain,
        trust=parse_certificates(server_pem),
    )
    return result.status_code


def wait_progress(
    api: httpx.Client, headers: dict[str, str], batch: str, until: Any
) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while True:
        progress = api.get(f"/v1/instances/sandbox/migrations/{batch}", headers=headers).json()
        if until(progress):
            return progress
        assert time.monotonic() < deadline, progress
        time.sleep(0.5)


def test_discover_adopt_and_migrate_the_public_ca_integrations(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.token}"}
    api = httpx.Client(base_url=stack.gateway.url, timeout=120)
    stack.sandbox.request_log.clear()
    before = stack.sandbox.dump()

    report = api.get("/v1/instances/sandbox/estate", headers=headers).json()
    public = {
        f["record"] for f in report["findings"] if f["code"] == "public_ca_client_certificate"
    }
    assert public == {
        "keystore 'billing client (public CA)'",
        "keystore 'shipping client (public CA)'",
    }
    adopted = cli(stack, "adopt", "--instance", "sandbox", "--ca", "local", "--all")
    assert {a["name"] for a in adopted["adopted"]} == {
        "Billing API",
        "Shipping API",
        "HR API",
        "Ledger SOAP",
        "Payroll API",  # on its profile through its endpoint's scheme
    }
    assert writes(stack) == [] and stack.sandbox.dump() == before  # read-only so far

    watch = Watch(stack)
    watch.start()
    body = {
        "ca": "local",
        "finding": "public_ca_client_certificate",
        "reason": "public CAs stop clientAuth",
    }
    batch = api.post("/v1/instances/sandbox/migrations", json=body, headers=headers).json()
    assert len(batch["started"]) == 2 and batch["skipped"] == []
    waiting = wait_progress(
        api, headers, batch["batch"], lambda p: p["counts"].get("waiting_for_third_party") == 2
    )
    renewals = {j["target"]: j["renewal"] for j in waiting["jobs"]}
    time.sleep(1.5)  # the poller re-probes at least once: still refused, nothing switched
    assert all(len(seen) == 1 for seen in watch.seen.values()), watch.seen
    for target, renewal in renewals.items():
        wait = [e for e in stack.app.store.history(renewal) if e.kind == "waiting_for_third_party"]
        assert wait and wait[-1].detail["install"]["client_certificate_der"].endswith("format=der")
        assert stack.app.store.get_job(renewal).request.ca.profile == "local", target

    root = local_ca(stack).root_pem
    stack.third_party.trust(root)
    watch.trusting["Billing API"] = True
    stack.partner.trust(root)
    watch.trusting["Shipping API"] = True
    done = wait_progress(api, headers, batch["batch"], lambda p: p["done"] == p["total"])
    watch.stopping.set()
    watch.join()
    assert done["counts"] == {"succeeded": 2}, done
    assert watch.problems == []
    assert all(len(seen) == 2 for seen in watch.seen.values()), watch.seen  # one switch each

    for renewal in renewals.values():
        kinds = [e.kind for e in stack.app.store.history(renewal)]
        assert kinds.index("switch_proved") < kinds.index("renewal_switched")
        assert kinds.index("renewal_proved") < kinds.index("renewal_switched")
    records = {c["sys_id"]: c for c in stack.sandbox.dump()["sys_certificate"]}
    for name, (old, new) in ((n, tuple(s)) for n, s in watch.seen.items()):
        assert records[old]["active"] == "false" and records[new]["active"] == "true", name
        assert PUBLIC not in records[new]["issuer"]
    assert (
        call_through_profile(
            stack, "mauthbilling", stack.third_party.url, stack.third_party.server_ca_pem
        )
        == 200
    )
    assert (
        call_through_profile(
            stack, "mauthshipping", stack.partner.url, stack.partner.server_certificate_pem
        )
        == 200
    )
    after = {p["protocol"]: p["keystore"] for p in stack.sandbox.dump()["sys_protocol_profile"]}
    untouched = {p["protocol"]: p["keystore"] for p in before["sys_protocol_profile"]}
    for protocol in ("mauthhr", "mauthledger", "mauthreports", "mauthvendor", "mauthpayroll"):
        assert after[protocol] == untouched[protocol]
    shown = cli(
        stack, "migrate", "--instance", "sandbox", "--ca", "local", "--batch", batch["batch"]
    )
    assert shown["done"] == 2
    assert stack.sandbox.max_in_flight <= LIMIT  # discovery, adoption and both renewals
    listed = {
        c["target"]: c["state"]
        for c in api.get("/v1/certificates", headers=headers).json()["certificates"]
        if c["state"] == "current"
    }
    assert {"Billing API", "Shipping API", "HR API"} <= set(listed)
