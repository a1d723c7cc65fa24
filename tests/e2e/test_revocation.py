"""Revocation at the local CA, end to end: what twoway retires lands in the CA's CRL.

Real parts: the whole pipeline (stub broker, sandbox instance, mutual-TLS third party),
the local CA's files, the gateway serving the CRL over HTTP, and ``openssl verify
-crl_check`` deciding about the certificates.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from messages import JobState, KeyType
from ops.dev.stack import Stack, StackOptions
from tests.e2e.conftest import local_ca, wait_all
from workers.ca.local_crl import OFFLINE_MARKER
from workers.config import PipelineConfig, load_config
from workers.levers.renewal import renew
from workers.levers.replay import cancel
from workers.levers.revoker import Revoker
from workers.levers.rollback import rollback
from workers.levers.scheduler import RenewalScheduler

_VERIFY = ["openssl", "verify", "-crl_check", "-purpose", "sslclient"]


def lifecycle_config() -> PipelineConfig:
    config = load_config()
    renewal = config.renewal.model_copy(update={"grace_period_days": 1})
    revocation = config.revocation.model_copy(
        update={"min_backoff_s": 0.5, "max_backoff_s": 1, "check_every_s": 0}
    )
    return config.model_copy(update={"renewal": renewal, "revocation": revocation})


@pytest.fixture
def stack() -> Iterator[Stack]:
    with Stack(StackOptions(broker="stub", config=lifecycle_config())) as running:
        yield running


def run_job(stack: Stack, **changes: Any) -> str:
    job, _ = stack.app.submit(stack.example_job(KeyType.EC256, **changes))
    wait_all(stack, [job.id], timeout=90)
    return job.id


def kinds(stack: Stack, job_id: str) -> list[str]:
    return [event.kind for event in stack.app.store.history(job_id)]


def certificate(stack: Stack, job_id: str) -> bytes:
    pem = stack.app.store.artifacts.get(job_id, "certificate")
    assert pem is not None
    return pem


def openssl_verify(stack: Stack, tmp_path: Path, job_id: str) -> subprocess.CompletedProcess[str]:
    """``openssl verify -crl_check`` of the job's certificate against the CRL the gateway
    serves now (fetched over HTTP, as a relying party would)."""
    answer = requests.get(f"{stack.gateway.url}/v1/ca/local/crl", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(answer.content)
    (tmp_path / "ca.crl.pem").write_bytes(crl.public_bytes(Encoding.PEM))
    (tmp_path / "chain.pem").write_bytes(local_ca(stack).ca_chain_pem)
    (tmp_path / "leaf.pem").write_bytes(certificate(stack, job_id))
    return subprocess.run(
        [*_VERIFY, "-CAfile", "chain.pem", "-CRLfile", "ca.crl.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_renewal_retires_the_old_certificate_into_the_crl(stack: Stack, tmp_path: Path) -> None:
    old = run_job(stack)
    before = openssl_verify(stack, tmp_path, old)
    print("before:", before.returncode, before.stdout.strip(), before.stderr.strip())
    assert before.returncode == 0, before.stderr
    renewal, _ = renew(stack.app, old, actor="test", reason="rotate the key")
    assert wait_all(stack, [renewal.id], timeout=90)[renewal.id] is JobState.SUCCEEDED
    assert "keystore_retired" in kinds(stack, old)
    # Within the grace period the retired record stays, and nothing is revoked.
    RenewalScheduler(stack.app).run_once()
    Revoker(stack.app.deps).run_once()
    assert "revocation_requested" not in kinds(stack, old)
    # Past the grace period the scheduler deletes the record; the revoker revokes.
    RenewalScheduler(stack.app).run_once(now=datetime.now(UTC) + timedelta(days=2))
    assert "keystore_deleted" in kinds(stack, old)
    Revoker(stack.app.deps).run_once()
    history = stack.app.store.history(old)
    revoked = [e for e in history if e.kind == "certificate_revoked"]
    print("history:", [e.kind for e in history][-4:], revoked[0].detail)
    assert revoked and revoked[0].detail["reason"] == "superseded"
    after = openssl_verify(stack, tmp_path, old)
    print("after:", after.returncode, after.stdout.strip(), after.stderr.strip())
    assert after.returncode != 0 and "certificate revoked" in after.stderr
    listed = subprocess.run(
        ["openssl", "crl", "-in", "ca.crl.pem", "-noout", "-text"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print("crl:", listed)
    assert format(x509.load_pem_x509_certificate(certificate(stack, old)).serial_number, "X") in (
        listed.replace(":", "").upper()
    )
    # The renewal's certificate is not on the list.
    assert openssl_verify(stack, tmp_path, renewal.id).returncode == 0


def test_a_rollback_and_a_cancel_revoke(stack: Stack) -> None:
    ca = local_ca(stack)
    rolled = run_job(stack)
    rollback(stack.app, rolled, actor="test", reason="wrong CA")
    # A job paused for the third party holds an issued certificate; cancelling it revokes.
    stack.third_party.trust_only([])
    waiting = run_job(stack)
    assert stack.app.store.get_job(waiting).state is JobState.WAITING_FOR_THIRD_PARTY
    cancel(stack.app.store, waiting, reason="partner gone", actor="test")
    Revoker(stack.app.deps).run_once()
    for job_id, trigger in ((rolled, "rolled_back"), (waiting, "cancelled")):
        history = {e.kind: e.detail for e in stack.app.store.history(job_id)}
        print(job_id, trigger, history["revocation_requested"], history["certificate_revoked"])
        assert history["revocation_requested"]["trigger"] == trigger
        assert history["certificate_revoked"]["reason"] == "cessation_of_operation"
        assert ca.revoked(certificate(stack, job_id)) is True
    # Followed again (another round, or another worker): nothing is revoked twice.
    Revoker(stack.app.deps).run_once()
    assert kinds(stack, rolled).count("certificate_revoked") == 1

    # What an operator sees: the outbox through the gateway (read role) and the CLI.
    read = {"Authorization": f"Bearer {stack.read_token}"}
    answer = requests.get(f"{stack.gateway.url}/v1/revocations", headers=read, timeout=10)
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    print("GET /v1/revocations:", listed["counts"], [r["trigger"] for r in listed["revocations"]])
    assert listed["counts"] == {"done": 2}
    assert {(r["job_id"], r["trigger"], r["state"]) for r in listed["revocations"]} == {
        (rolled, "rolled_back", "done"),
        (waiting, "cancelled", "done"),
    }
    assert listed["revocations"][0]["job_id"] == waiting  # newest first
    env = {**os.environ, "TWOWAY_URL": stack.gateway.url, "TWOWAY_TOKEN": stack.read_token}
    run = [sys.executable, "-m", "ops", "revocations", "--job", rolled]
    shown = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    print(shown.stdout)
    assert shown.returncode == 0, shown.stderr
    assert rolled in shown.stdout and waiting not in shown.stdout
    assert "rolled_back" in shown.stdout and "2 done" in shown.stdout
    refused = subprocess.run([*run, "--state", "revoked"], env=env, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    print(refused.stderr)
    assert refused.returncode == 2 and "pending, done, asked, failed" in refused.stderr


def test_a_ca_that_is_down_delays_the_revocation_not_the_rollback(stack: Stack) -> None:
    ca = local_ca(stack)
    job_id = run_job(stack)
    marker = ca.directory / OFFLINE_MARKER
    marker.touch()
    report = rollback(stack.app, job_id, actor="test", reason="decommissioned")
    assert report.state is JobState.CANCELLED  # the rollback finished with the CA down
    revoker = Revoker(stack.app.deps)
    revoker.run_once()
    [deferred] = [e for e in stack.app.store.history(job_id) if e.kind == "revocation_deferred"]
    print("deferred:", deferred.detail)
    assert "offline" in str(deferred.detail["message"])
    row = stack.app.store.revocations.of(job_id)
    assert row is not None and row.values["state"] == "pending" and row.attempts == 1
    marker.unlink()
    deadline = time.monotonic() + 10
    while stack.app.store.revocations.of(job_id).values["state"] == "pending":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.2)
        revoker.run_once()
    row = stack.app.store.revocations.of(job_id)
    assert row is not None and row.values["state"] == "done" and row.attempts == 2
    assert ca.revoked(certificate(stack, job_id)) is True
    print("history:", kinds(stack, job_id)[-4:])


def test_a_certificate_revoked_behind_our_back_is_renewed_at_once(stack: Stack) -> None:
    ca = local_ca(stack)
    job_id = run_job(stack)
    scheduler = RenewalScheduler(stack.app)
    assert scheduler.run_once().started == {}  # current, not revoked: nothing to do
    ca.revoke(certificate(stack, job_id), reason="key_compromise")  # at the CA, not by twoway
    report = scheduler.run_once()
    assert list(report.started) == [job_id]
    renewal = report.started[job_id]
    assert "certificate_revoked_by_ca" in kinds(stack, job_id)
    assert wait_all(stack, [renewal], timeout=90)[renewal] is JobState.SUCCEEDED
    print("renewed by", renewal, kinds(stack, job_id)[-5:])
    assert ca.revoked(certificate(stack, renewal)) is False


def test_the_stacks_own_revoker_revokes_without_being_asked() -> None:
    """The revoker as production runs it: a periodic thread (here the stack's)."""
    options = StackOptions(broker="stub", config=lifecycle_config(), lifecycle_every_s=0.2)
    with Stack(options) as stack:
        job_id = run_job(stack)
        rollback(stack.app, job_id, actor="test", reason="no longer needed")
        deadline = time.monotonic() + 20
        while "certificate_revoked" not in kinds(stack, job_id):
            assert time.monotonic() < deadline, kinds(stack, job_id)
            time.sleep(0.1)
        assert local_ca(stack).revoked(certificate(stack, job_id)) is True
