"""The CA callback over real HTTP: what it refuses, precisely, and what it accepts.

A job of the ``manual`` CA profile waits at wait-for-ca; a CA twoway has never heard of
(made and driven with the openssl command line) signs its CSR. Every bad callback is
refused with the status and reason it deserves, leaves the job waiting, writes the
refusal into the history, and creates nothing on the instance; then a good one resumes
the job to success.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from messages import JobState
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.views.jobview import follow
from tests.factories import OpensslCa
from workers.callback_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers
from workers.pki import build_csr, generate_private_key
from workers.pki.keys import load_private_key


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> OpensslCa:
    return OpensslCa(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def stack(ca: OpensslCa) -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        running.third_party.trust(ca.root_pem)
        yield running


def unique_job(stack: RunningStack, profile: str) -> dict[str, Any]:
    """A job on a REST message of its own (same third party), so that jobs never meet."""
    tag = secrets.token_hex(4)
    name = f"Callback test {tag}"
    stack.sandbox.add_rest_message(name, stack.third_party.url, methods=("get",))
    return stack.example_job(
        ca={"profile": profile},
        target={"kind": "rest", "name": name},
        keystore={"record_name": f"twoway callback test {tag}", "alias": "twoway"},
        protocol_profile={"name": f"mauth{tag}", "port": stack.third_party.port},
    )


def paused_job(stack: RunningStack) -> str:
    job, _ = stack.app.submit(unique_job(stack, "manual"))
    paused = follow(
        stack.app.store,
        job.id,
        lambda _: None,
        timeout=60,
        until=lambda j: j.state is JobState.WAITING_FOR_CA or j.terminal,
    )
    assert paused.state is JobState.WAITING_FOR_CA, paused.error
    return job.id


@pytest.fixture(scope="module")
def waiting(stack: RunningStack) -> str:
    return paused_job(stack)


def csr_of(stack: RunningStack, job_id: str) -> bytes:
    csr = stack.app.store.artifacts.get(job_id, "csr")
    assert csr is not None
    return csr


def callback(
    stack: RunningStack, job_id: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return httpx.post(
        f"{stack.gateway.url}/v1/jobs/{job_id}/ca-callback", content=body, headers=headers
    )


def payload(certificate: bytes, chain: bytes) -> bytes:
    return json.dumps({"certificate": certificate.decode(), "chain": chain.decode()}).encode()


def expired_certificate(ca: OpensslCa, csr_pem: bytes) -> bytes:
    """Signed by the openssl CA's intermediate for the CSR's key, valid until yesterday."""
    issuer = x509.load_pem_x509_certificate((ca.directory / "intermediate.pem").read_bytes())
    key = load_private_key((ca.directory / "intermediate.key").read_bytes())
    csr = x509.load_pem_x509_csr(csr_pem)
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


Case = Callable[[RunningStack, OpensslCa, str], tuple[bytes, dict[str, str]]]


def good_body(stack: RunningStack, ca: OpensslCa, job_id: str) -> bytes:
    return payload(ca.sign(csr_of(stack, job_id)), ca.chain_pem)


def wrong_signature(
    stack: RunningStack, ca: OpensslCa, job_id: str
) -> tuple[bytes, dict[str, str]]:
    body = good_body(stack, ca, job_id)
    return body, signed_headers(b"not the profile's secret", body, job_id=job_id)


def stale_timestamp(
    stack: RunningStack, ca: OpensslCa, job_id: str
) -> tuple[bytes, dict[str, str]]:
    body = good_body(stack, ca, job_id)
    return body, signed_headers(stack.callback_secret(), body, job_id=job_id, now=time.time() - 301)


def no_signature(stack: RunningStack, ca: OpensslCa, job_id: str) -> tuple[bytes, dict[str, str]]:
    return good_body(stack, ca, job_id), {TIMESTAMP_HEADER: str(int(time.time()))}


def another_key(stack: RunningStack, ca: OpensslCa, job_id: str) -> tuple[bytes, dict[str, str]]:
    request = stack.app.store.get_job(job_id).request
    other = build_csr(generate_private_key(request.key.type), request.subject, request.dns_sans)
    body = payload(ca.sign(other), ca.chain_pem)
    return body, signed_headers(stack.callback_secret(), body, job_id=job_id)


def expired(stack: RunningStack, ca: OpensslCa, job_id: str) -> tuple[bytes, dict[str, str]]:
    body = payload(expired_certificate(ca, csr_of(stack, job_id)), ca.chain_pem)
    return body, signed_headers(stack.callback_secret(), body, job_id=job_id)


def foreign_chain(stack: RunningStack, ca: OpensslCa, job_id: str) -> tuple[bytes, dict[str, str]]:
    other = OpensslCa(ca.directory / "other", name="someone else")
    body = payload(ca.sign(csr_of(stack, job_id)), other.chain_pem)
    return body, signed_headers(stack.callback_secret(), body, job_id=job_id)


def garbage_pem(stack: RunningStack, ca: OpensslCa, job_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"certificate": "garbage", "chain": "more garbage"}).encode()
    return body, signed_headers(stack.callback_secret(), body, job_id=job_id)


def not_json(stack: RunningStack, ca: OpensslCa, job_id: str) -> tuple[bytes, dict[str, str]]:
    body = b"certificate=garbage"
    return body, signed_headers(stack.callback_secret(), body, job_id=job_id)


def unknown_field(stack: RunningStack, ca: OpensslCa, job_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"certificate": "x", "chain": "y", "note": "hello"}).encode()
    return body, signed_headers(stack.callback_secret(), body, job_id=job_id)


def ten_megabytes(stack: RunningStack, ca: OpensslCa, job_id: str) -> tuple[bytes, dict[str, str]]:
    body = payload(b"A" * 10_000_000, b"")
    return body, signed_headers(stack.callback_secret(), body, job_id=job_id)


REFUSALS: list[tuple[Case, int, str, str]] = [
    (wrong_signature, 401, "AuthenticationFailed", "does not match the job, body and"),
    # 301 s old when signed; the gateway sees it a moment later (301 or 302 s).
    (stale_timestamp, 401, "AuthenticationFailed", "s behind the gateway's clock; at most 300"),
    (no_signature, 401, "AuthenticationFailed", f"{SIGNATURE_HEADER} is missing"),
    (another_key, 422, "CertificateRejected", "public_key: the certificate"),
    (
        expired,
        422,
        "CertificateRejected",
        "validity: 'CN=servicenow-payments-client,O=twoway demo,C=DE' expired on",
    ),
    (foreign_chain, 422, "CertificateRejected", "chain: no certificate in the chain issued"),
    (garbage_pem, 400, "RequestInvalid", "'certificate' holds no PEM certificate"),
    (not_json, 400, "RequestInvalid", "body: not JSON"),
    (unknown_field, 400, "RequestInvalid", "body: note: Extra inputs are not permitted"),
    (ten_megabytes, 413, "PayloadTooLarge", "over the gateway's limit"),
]


def refusals(stack: RunningStack, job_id: str) -> list[dict[str, Any]]:
    kinds = ("callback_refused", "certificate_rejected")
    return [e.detail for e in stack.app.store.history(job_id) if e.kind in kinds]


@pytest.mark.parametrize(
    ("case", "status", "error", "says"), REFUSALS, ids=[case.__name__ for case, *_ in REFUSALS]
)
def test_a_bad_callback_is_refused_and_the_job_keeps_waiting(
    stack: RunningStack, ca: OpensslCa, waiting: str, case: Case, status: int, error: str, says: str
) -> None:
    before, noted = stack.sandbox.dump(), len(refusals(stack, waiting))
    body, headers = case(stack, ca, waiting)
    answer = callback(stack, waiting, body, headers)
    assert (answer.status_code, answer.json()["error"]) == (status, error), answer.text
    assert says in answer.json()["message"], answer.json()
    assert stack.app.store.get_job(waiting).state is JobState.WAITING_FOR_CA
    assert stack.sandbox.dump() == before
    if status == 401:  # before the signature proved anything: it costs the job nothing
        assert refusals(stack, waiting)[noted:] == []
    elif status != 413:  # refused by the body limit before any route or job is involved
        [detail] = refusals(stack, waiting)[noted:]
        assert detail["error"] == error and says in detail["message"]
        assert stack.callback_secret().decode() not in json.dumps(detail)
        if SIGNATURE_HEADER in headers:
            assert headers[SIGNATURE_HEADER].removeprefix("sha256=") not in json.dumps(detail)


@pytest.mark.parametrize(
    ("case", "status"),
    [(expired, 422), (garbage_pem, 400), (not_json, 400)],
    ids=["expired", "garbage_pem", "not_json"],
)
def test_a_replayed_callback_is_refused_even_when_the_first_was(
    stack: RunningStack, ca: OpensslCa, waiting: str, case: Case, status: int
) -> None:
    """A refused callback uses up its signature, whichever check refused it."""
    body, _ = case(stack, ca, waiting)
    body += b" " * (1 + len(refusals(stack, waiting)))  # not a body another test signed
    headers = signed_headers(stack.callback_secret(), body, job_id=waiting)
    first = callback(stack, waiting, body, headers)
    again = callback(stack, waiting, body, headers)
    assert first.status_code == status
    assert (again.status_code, again.json()["error"]) == (409, "ReplayRefused")
    assert "already used" in again.json()["message"]
    assert refusals(stack, waiting)[-1]["error"] == "ReplayRefused"


def test_a_callback_for_a_profile_without_callbacks_is_forbidden(stack: RunningStack) -> None:
    job, _ = stack.app.submit(unique_job(stack, "local"))
    follow(stack.app.store, job.id, lambda _: None, timeout=60)
    body = b"{}"
    answer = callback(
        stack, job.id, body, signed_headers(stack.callback_secret(), body, job_id=job.id)
    )
    assert answer.status_code == 403 and "takes no callbacks" in answer.json()["message"]


def test_twoway_up_shows_the_gateway_and_the_manual_profile_callback_secret(
    stack: RunningStack,
) -> None:
    info = stack.info()
    assert info["gateway"] == stack.gateway.url
    assert info["callback_secret"] == stack.callback_secret().decode()
    assert len(info["callback_secret"]) >= 32


def test_an_unknown_job_is_404(stack: RunningStack) -> None:
    answer = callback(
        stack, "0" * 32, b"{}", signed_headers(stack.callback_secret(), b"{}", job_id="0" * 32)
    )
    assert answer.status_code == 404


def test_the_csr_is_served_to_a_reader(stack: RunningStack, waiting: str) -> None:
    url = f"{stack.gateway.url}/v1/jobs/{waiting}/csr"
    assert httpx.get(url).status_code == 401
    answer = httpx.get(url, headers={"Authorization": f"Bearer {stack.token}"})
    assert answer.status_code == 200 and answer.content == csr_of(stack, waiting)
    assert answer.headers["content-type"] == "application/x-pem-file"


def test_a_good_callback_resumes_the_job_once(stack: RunningStack, ca: OpensslCa) -> None:
    job_id = paused_job(stack)
    body = good_body(stack, ca, job_id)
    timestamp = str(int(time.time()))
    headers = {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(stack.callback_secret(), timestamp, body, job_id=job_id),
    }
    answer = callback(stack, job_id, body, headers)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"job_id": job_id, "state": "running", "stage": "wait-for-ca"}
    final = follow(stack.app.store, job_id, lambda _: None, timeout=60)
    assert final.state is JobState.SUCCEEDED, final.error
    resumed = [e for e in stack.app.store.history(job_id) if e.kind == "ca_resumed"]
    assert len(resumed) == 1 and resumed[0].detail["source"] == "ca-callback"
    assert stack.app.store.artifacts.get(job_id, "ca_chain_pem") == ca.chain_pem
    late = good_body(stack, ca, job_id)
    again = callback(
        stack, job_id, late, signed_headers(stack.callback_secret(), late, job_id=job_id)
    )
    assert (again.status_code, again.json()["error"]) == (409, "StateConflict")
