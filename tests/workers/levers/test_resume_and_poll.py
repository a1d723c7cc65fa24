"""Resuming paused jobs: the checks and their precise refusals, one winner among
concurrent resumes, and the poller (pollable CAs, max_wait_days) on a running stack."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from messages import JobState, Stage
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.views.jobview import follow, summarise
from workers.ca import Issued, Pending
from workers.config import ManualCaProfile, load_config
from workers.errors import CertificateRejected, ReplayRefused, StateConflict
from workers.levers.poller import Poller
from workers.levers.resume import resume_with_certificate
from workers.levers.waiting import waiting_jobs
from workers.pki import Authority, cert_to_pem, general_names, subject_name


class SlowCa:
    """A CA adapter that takes the CSR now and signs when told to, answering ``poll``."""

    name = "slow"
    synchronous = False
    pollable = True

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.csrs: dict[str, bytes] = {}
        self.signed: dict[str, Issued] = {}

    def submit(self, csr_pem: bytes, *, request_key: str) -> Issued | Pending:
        self.csrs[f"slow-{request_key}"] = csr_pem
        return Pending(request_id=f"slow-{request_key}")

    def poll(self, request_id: str) -> Issued | Pending:
        return self.signed.get(request_id) or Pending(request_id=request_id)

    def sign(self, request_id: str, **changes: Any) -> None:
        csr = x509.load_pem_x509_csr(self.csrs[request_id])
        leaf = self.authority.issue(self.csrs[request_id], csr.subject, **changes)
        chain = b"".join(cert_to_pem(c) for c in self.authority.chain)
        self.signed[request_id] = Issued(cert_to_pem(leaf), chain, request_id)


@pytest.fixture(scope="module")
def authority() -> Authority:
    root = Authority.new_root("resume tests root")
    return root.new_intermediate("resume tests issuing")


@pytest.fixture(scope="module")
def stack(authority: Authority) -> Iterator[RunningStack]:
    base = load_config()
    slow = ManualCaProfile(adapter="manual", max_wait_days=2)
    config = base.model_copy(update={"ca": {**base.ca, "slow": slow}})
    with Stack(StackOptions(broker="stub", config=config, poll_every_s=3600)) as running:
        running.app.deps.cas.install("slow", SlowCa(authority))
        running.third_party.trust(cert_to_pem(authority.root))
        yield running


def paused(stack: RunningStack, profile: str = "manual") -> str:
    tag = f"{profile}{len(stack.app.store.list_jobs(limit=1000))}"
    name = f"Resume test {tag}"
    stack.sandbox.add_rest_message(name, stack.third_party.url, methods=("get",))
    request = stack.example_job(
        ca={"profile": profile},
        target={"kind": "rest", "name": name},
        subject={"cn": f"resume-{tag}", "o": "twoway demo", "c": "DE"},
        keystore={"record_name": f"twoway resume {tag}", "alias": "twoway"},
        protocol_profile={"name": f"mauthresume{tag}", "port": stack.third_party.port},
    )
    job, _ = stack.app.submit(request)
    done = follow(
        stack.app.store,
        job.id,
        lambda _: None,
        timeout=60,
        until=lambda j: j.state is JobState.WAITING_FOR_CA or j.terminal,
    )
    assert done.state is JobState.WAITING_FOR_CA, done.error
    return job.id


def issue(
    stack: RunningStack, authority: Authority, job_id: str, **changes: Any
) -> tuple[bytes, bytes]:
    """A certificate for the job's CSR (as asked, unless ``changes`` say otherwise)."""
    request = stack.app.store.get_job(job_id).request
    csr = stack.app.store.artifacts.get(job_id, "csr")
    assert csr is not None
    changes.setdefault("sans", general_names(request.dns_sans))
    leaf = authority.issue(csr, changes.pop("subject", subject_name(request.subject)), **changes)
    return cert_to_pem(leaf), b"".join(cert_to_pem(c) for c in authority.chain)


def kinds(stack: RunningStack, job_id: str) -> list[str]:
    return [e.kind for e in stack.app.store.history(job_id)]


def rejected(
    stack: RunningStack, authority: Authority, job_id: str, says: str, **changes: Any
) -> None:
    certificate, chain = issue(stack, authority, job_id, **changes)
    with pytest.raises(CertificateRejected) as refused:
        resume_with_certificate(
            stack.app, job_id, certificate, chain, source="test", actor="tester"
        )
    assert says in refused.value.message, refused.value.message
    assert stack.app.store.get_job(job_id).state is JobState.WAITING_FOR_CA
    last = stack.app.store.history(job_id)[-1]
    assert last.kind == "certificate_rejected" and last.detail["source"] == "test"
    assert says in last.detail["message"]


def test_a_different_subject_is_refused_naming_the_difference(
    stack: RunningStack, authority: Authority
) -> None:
    job_id = paused(stack)
    asked = stack.app.store.get_job(job_id).request.subject
    other = subject_name(asked.model_copy(update={"o": "Someone Else"}))
    rejected(
        stack,
        authority,
        job_id,
        "subject: subject O is 'Someone Else' but the request asked for 'twoway demo'",
        subject=other,
    )


def test_a_certificate_without_client_auth_is_refused(
    stack: RunningStack, authority: Authority
) -> None:
    job_id = paused(stack)
    rejected(
        stack,
        authority,
        job_id,
        "key_usage: the certificate's extended key usage (serverAuth) lacks clientAuth",
        extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,),
    )


def test_a_certificate_expiring_within_the_profile_minimum_is_refused(
    stack: RunningStack, authority: Authority
) -> None:
    job_id = paused(stack)  # the manual profile asks for min_remaining_days = 1
    rejected(stack, authority, job_id, "within the required 1 day(s)", validity=timedelta(hours=12))


def test_of_two_concurrent_resumes_exactly_one_wins(
    stack: RunningStack, authority: Authority
) -> None:
    job_id = paused(stack)
    certificates = [issue(stack, authority, job_id) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def resume(certificate: bytes, chain: bytes) -> None:
        start.wait()
        try:
            resume_with_certificate(stack.app, job_id, certificate, chain, source="t", actor="t")
            outcomes.append("won")
        except StateConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=resume, args=pair) for pair in certificates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "won"]
    assert kinds(stack, job_id).count("ca_resumed") == 1
    final = follow(stack.app.store, job_id, lambda _: None, timeout=60)
    assert final.state is JobState.SUCCEEDED, final.error
    stored = stack.app.store.artifacts.get(job_id, "certificate")
    assert stored in [certificate for certificate, _ in certificates]
    with pytest.raises(StateConflict, match="is succeeded, not waiting for its CA"):
        resume_with_certificate(stack.app, job_id, *certificates[0], source="t", actor="t")


def test_a_resume_completes_wait_for_ca_once_with_the_time_the_job_waited(
    stack: RunningStack, authority: Authority
) -> None:
    """wait-for-ca paused; the resume completes it: one ``stage_completed`` whose duration
    is the time the job waited, however often the resume or the stage's message comes
    again (at-least-once delivery), and the job's stage durations include it."""
    store, job_id = stack.app.store, paused(stack)
    time.sleep(0.5)  # a wait long enough to tell from a run of the stage
    certificate, chain = issue(stack, authority, job_id)
    resume_with_certificate(stack.app, job_id, certificate, chain, source="test", actor="t")
    with pytest.raises(StateConflict):  # an operator who runs it twice
        resume_with_certificate(stack.app, job_id, certificate, chain, source="test", actor="t")
    final = follow(store, job_id, lambda _: None, timeout=60)
    assert final.state is JobState.SUCCEEDED, final.error
    made = store.progress.get_output(job_id, Stage.CSR)
    assert made is not None
    stack.app.runtime.handle(Stage.WAIT_FOR_CA, json.loads(made.message))  # redelivered
    history = store.history(job_id)
    [pause] = [e for e in history if e.kind == "waiting_for_ca"]
    [done] = [e for e in history if e.kind == "stage_completed" and e.stage is Stage.WAIT_FOR_CA]
    waited_ms = (done.at - pause.at).total_seconds() * 1000
    assert 500 <= done.detail["duration_ms"] <= waited_ms + 1, (done.detail, waited_ms)
    assert done.detail["certificate_sha256"] == hashlib.sha256(certificate).hexdigest()
    assert "wait-for-ca" in summarise(store, final)["stage_durations_ms"]


def test_a_signature_already_used_undoes_the_resume_it_was_claimed_with(
    stack: RunningStack, authority: Authority
) -> None:
    """The callback's signature is recorded in the transaction that resumes the job: when
    that record is refused (a twin callback took it first), nothing of the resume stays."""
    store, job_id = stack.app.store, paused(stack)
    keep = timedelta(minutes=10)
    assert store.signatures.claim("sha256=twin", job_id, keep=keep)
    certificate, chain = issue(stack, authority, job_id)
    with pytest.raises(ReplayRefused):
        resume_with_certificate(
            stack.app,
            job_id,
            certificate,
            chain,
            source="test",
            actor="tester",
            claim=lambda conn: store.signatures.claim_in(conn, "sha256=twin", job_id, keep=keep),
        )
    assert store.get_job(job_id).state is JobState.WAITING_FOR_CA
    assert store.artifacts.get(job_id, "certificate") is None
    assert "ca_resumed" not in kinds(stack, job_id)
    fresh = lambda conn: store.signatures.claim_in(conn, "sha256=fresh", job_id, keep=keep)  # noqa: E731
    resumed = resume_with_certificate(
        stack.app, job_id, certificate, chain, source="test", actor="tester", claim=fresh
    )
    assert resumed.state is JobState.RUNNING
    with pytest.raises(ReplayRefused):
        store.signatures.refuse_if_used("sha256=fresh")


def test_the_poller_resumes_a_job_once_its_ca_has_signed(stack: RunningStack) -> None:
    job_id = paused(stack, "slow")
    job = stack.app.store.get_job(job_id)
    assert job.ca_request_id == f"slow-{job_id}"
    poller = Poller(stack.app)
    assert job_id not in poller.run_once().resumed  # the CA has not signed yet
    assert stack.app.store.get_job(job_id).state is JobState.WAITING_FOR_CA
    slow = stack.app.deps.cas.get("slow")
    assert isinstance(slow, SlowCa)
    slow.sign(job.ca_request_id, sans=general_names(job.request.dns_sans))
    assert job_id in poller.run_once().resumed
    final = follow(stack.app.store, job_id, lambda _: None, timeout=60)
    assert final.state is JobState.SUCCEEDED, final.error
    [resumed] = [e for e in stack.app.store.history(job_id) if e.kind == "ca_resumed"]
    assert resumed.detail["source"] == "poller" and resumed.detail["actor"] == "ca:slow"


def test_the_poller_fails_a_job_whose_polled_certificate_fails_the_checks(
    stack: RunningStack,
) -> None:
    job_id = paused(stack, "slow")
    request_id = f"slow-{job_id}"
    slow = stack.app.deps.cas.get("slow")
    assert isinstance(slow, SlowCa)
    slow.sign(request_id, extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,))
    assert job_id in Poller(stack.app).run_once().failed
    job = stack.app.store.get_job(job_id)
    assert job.state is JobState.FAILED and job.error is not None
    assert job.error["stage"] == "wait-for-ca" and "lacks clientAuth" in job.error["message"]


def test_a_job_waiting_past_max_wait_fails_and_not_before(stack: RunningStack) -> None:
    job_id = paused(stack, "slow")  # max_wait_days = 2
    [waiting] = [w for w in waiting_jobs(stack.app.store, stack.app.config) if w.job.id == job_id]
    assert waiting.deadline == waiting.since + timedelta(days=2)
    poller = Poller(stack.app)
    assert job_id not in poller.run_once(now=waiting.since + timedelta(days=1, hours=23)).expired
    assert stack.app.store.get_job(job_id).state is JobState.WAITING_FOR_CA
    assert job_id in poller.run_once(now=waiting.since + timedelta(days=2, seconds=1)).expired
    job = stack.app.store.get_job(job_id)
    assert job.state is JobState.FAILED and job.error is not None
    assert "did not sign within max_wait_days = 2" in job.error["message"]
    assert job.error["request_id"] == f"slow-{job_id}"
    assert kinds(stack, job_id)[-1] == "ca_wait_expired"
    assert job_id not in Poller(stack.app).run_once(now=datetime.now(UTC)).expired
