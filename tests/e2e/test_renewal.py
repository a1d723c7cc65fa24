"""Renewal and rotation: new certificates before the old ones expire, without a gap."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from messages import JobState
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.e2e.conftest import Partner, add_partners, job_for, wait_all
from workers.config import PipelineConfig, load_config
from workers.errors import VerificationFailed
from workers.levers.renewal import inventory, renew
from workers.pki import mtls_request, open_jks, parse_certificates
from workers.store import JobRecord


def renewal_config(*, validity_s: float, renew_before: str) -> PipelineConfig:
    config = load_config()
    local = config.ca["local"].model_copy(
        update={
            "validity_days": validity_s / 86400,
            "min_remaining_days": 0,
            "renew_before": renew_before,
        }
    )
    renewal = config.renewal.model_copy(update={"check_every_s": 1.0, "grace_period_days": 1})
    return config.model_copy(update={"ca": {**config.ca, "local": local}, "renewal": renewal})


class OutboundCalls(threading.Thread):
    """What the instance does when the REST message is called: mTLS with the keystore
    the protocol profile references at that moment (active, with its password)."""

    def __init__(self, stack: RunningStack, partner: Partner, protocol: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.partner, self.protocol = stack, partner, protocol
        self.used: list[str] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.session = requests.Session()
        self.session.auth = (stack.sandbox.username, stack.sandbox.password)

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            try:
                self.used.append(self.call())
            except (VerificationFailed, AssertionError, KeyError, IndexError) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")

    def call(self) -> str:
        dump = self.stack.sandbox.dump()
        [profile] = [p for p in dump["sys_protocol_profile"] if p["protocol"] == self.protocol]
        keystore = profile["keystore"]
        [record] = [c for c in dump["sys_certificate"] if c["sys_id"] == keystore]
        assert record["active"] == "true", f"the profile references inactive {keystore}"
        attachments = [a for a in dump["sys_attachment"] if a["table_sys_id"] == keystore]
        newest = max(attachments, key=lambda a: a["sys_created_on"])
        url = f"{self.stack.sandbox.url}/api/now/attachment/{newest['sys_id']}/file"
        data = self.session.get(url, timeout=10).content
        password = self.stack.sandbox.store.secrets[
            ("sys_certificate", keystore, "key_store_password")
        ]
        contents = open_jks(data, password, "twoway")
        trust = parse_certificates(self.partner.server.server_certificate_pem)
        result = mtls_request(
            self.partner.server.url,
            private_key_pem=contents.private_key_pem,
            chain=contents.chain,
            trust=trust,
        )
        assert result.status_code == 200
        return keystore


def wait_for_renewal(stack: RunningStack, job_id: str, timeout: float = 180) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        renewals = stack.app.store.renewals_of(job_id)
        if renewals and renewals[-1].terminal:
            return renewals[-1]
        time.sleep(0.2)
    raise AssertionError(f"no finished renewal of {job_id}")


def kinds(stack: RunningStack, job_id: str) -> list[str]:
    return [event.kind for event in stack.app.store.history(job_id)]


@pytest.fixture
def short_lived() -> Iterator[RunningStack]:
    options = StackOptions(
        broker="rabbitmq",
        worker_processes=2,
        config=renewal_config(validity_s=120, renew_before="85%"),
        renewal_every_s=1.0,
    )
    with Stack(options) as stack:
        yield stack


def test_the_scheduler_renews_and_switches_without_a_failed_call(short_lived: RunningStack) -> None:
    stack = short_lived
    [partner] = add_partners(stack, 1)
    old, _ = stack.app.submit(job_for(stack, partner))
    assert wait_all(stack, [old.id])[old.id] is JobState.SUCCEEDED
    calls = OutboundCalls(stack, partner, f"mauthpartner{partner.index}")
    calls.start()
    renewal = wait_for_renewal(stack, old.id)
    time.sleep(1.0)
    calls.stopping.set()
    calls.join()
    assert renewal.state is JobState.SUCCEEDED, renewal.error
    assert calls.failures == [] and len(calls.used) >= 20
    dump = stack.sandbox.dump()
    [profile] = dump["sys_protocol_profile"]
    records = {c["sys_id"]: c for c in dump["sys_certificate"]}
    new_keystore, old_keystore = profile["keystore"], calls.used[0]
    assert new_keystore != old_keystore and set(calls.used) == {old_keystore, new_keystore}
    assert records[new_keystore]["active"] == "true"
    assert records[old_keystore]["active"] == "false"
    assert renewal.renews == old.id
    history = kinds(stack, old.id)
    for kind in ("certificate_expiring", "renewal_started", "renewal_switched", "keystore_retired"):
        assert kind in history, history
    listed = {c.job_id: c for c in inventory(stack.app)}
    assert listed[old.id].state == "replaced" and listed[old.id].renewed_by == renewal.id
    assert listed[renewal.id].renews == old.id


@pytest.fixture
def stub_stack() -> Iterator[RunningStack]:
    options = StackOptions(broker="stub", renewal_every_s=3600.0)
    with Stack(options) as stack:
        yield stack


def test_a_renewal_the_third_party_rejects_changes_nothing(stub_stack: RunningStack) -> None:
    stack = stub_stack
    [partner] = add_partners(stack, 1)
    old, _ = stack.app.submit(job_for(stack, partner))
    assert wait_all(stack, [old.id])[old.id] is JobState.SUCCEEDED
    old_leaf = stack.app.store.artifacts.get(old.id, "client_cert_pem")
    assert old_leaf is not None
    partner.server.trust_only([old_leaf])  # the third party pinned our old certificate
    before = stack.sandbox.dump()["sys_protocol_profile"]
    _, created = renew(stack.app, old.id, actor="test", reason="rotate the key")
    assert created
    finished = wait_for_renewal(stack, old.id)
    assert finished.state is JobState.FAILED and finished.stage is not None
    assert finished.stage.value == "verify"
    assert finished.error and finished.error["check"] == "client_certificate", finished.error
    dump = stack.sandbox.dump()
    assert dump["sys_protocol_profile"] == before  # still the old keystore
    old_keystore = before[0]["keystore"]
    records = {c["sys_id"]: c for c in dump["sys_certificate"]}
    assert records[old_keystore]["active"] == "true"
    new_records = [c for c in records.values() if c["name"].endswith(" r1")]
    assert [c["active"] for c in new_records] == ["false"]
    assert "renewal_failed" in kinds(stack, old.id)


def scheduler_once(stack: RunningStack) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ops", "scheduler", "--once", "--json"],
        env=stack.worker_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def due_now() -> Iterator[RunningStack]:
    options = StackOptions(
        broker="rabbitmq",
        worker_processes=1,
        config=renewal_config(validity_s=3600, renew_before="99%"),
        renewal_every_s=3600.0,  # the stack's own scheduler stays out of the way
    )
    with Stack(options) as stack:
        yield stack


def test_two_schedulers_at_once_start_one_renewal_per_certificate(due_now: RunningStack) -> None:
    stack = due_now
    partners = add_partners(stack, 3)
    jobs = [stack.app.submit(job_for(stack, p))[0].id for p in partners]
    assert set(wait_all(stack, jobs).values()) == {JobState.SUCCEEDED}
    # Eight operators renew the first certificate at the same moment: one renewal job.
    got: list[str] = []
    barrier = threading.Barrier(8)

    def renew_now() -> None:
        barrier.wait()
        got.append(renew(stack.app, jobs[0], actor="test", reason="all at once")[0].id)

    threads = [threading.Thread(target=renew_now) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 8 and len(set(got)) == 1
    # Two scheduler processes start at once for the other two, both due: one renewal each.
    first, second = scheduler_once(stack), scheduler_once(stack)
    outputs: list[Any] = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    for job_id in jobs:
        assert len(stack.app.store.renewals_of(job_id)) == 1, job_id
