"""verify says which check failed and what to do; it can be replayed once that is done."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from messages import JobState, KeystoreUploaded, KeyType, Stage
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.e2e.conftest import local_ca, wait_all
from workers import pki
from workers.levers.partner import resume_third_party
from workers.levers.replay import replay


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


@pytest.fixture
def partner(stack: RunningStack) -> Iterator[ThirdPartyServer]:
    server = ThirdPartyServer([local_ca(stack).root_pem]).start()
    yield server
    server.stop()


def submit(stack: RunningStack, name: str, endpoint: str, trusted_pem: bytes, port: int) -> str:
    stack.sandbox.add_rest_message(name, endpoint)
    slug = name.lower().replace(" ", "")
    job, _ = stack.app.submit(
        stack.example_job(
            KeyType.EC256,
            target={"kind": "rest", "name": name},
            keystore={"record_name": f"twoway {slug}", "alias": "twoway"},
            server_certificate={"pem": trusted_pem.decode()},
            protocol_profile={"name": f"mauth{slug}", "port": port},
        )
    )
    wait_all(stack, [job.id], timeout=60)
    return job.id


def failure(stack: RunningStack, job_id: str, stage: Stage = Stage.VERIFY) -> dict[str, Any]:
    job = stack.app.store.get_job(job_id)
    assert (job.state, job.stage) == (JobState.FAILED, stage), job.error
    assert job.error is not None
    return dict(job.error)


def replay_verify(stack: RunningStack, job_id: str, reason: str) -> None:
    replay(stack.app.runtime, job_id, Stage.VERIFY, reason=reason, actor="test")
    wait_all(stack, [job_id], timeout=60)


def test_the_third_party_does_not_trust_our_ca_yet(stack: RunningStack) -> None:
    """The partner refuses the new certificate: the job waits at enable with the message
    untouched (no outage), and goes on once they have installed it."""
    strict = ThirdPartyServer([]).start()  # has not installed our CA
    try:
        job_id = submit(stack, "Strict API", strict.url, strict.server_certificate_pem, strict.port)
        job = stack.app.store.get_job(job_id)
        assert (job.state, job.stage) == (JobState.WAITING_FOR_THIRD_PARTY, Stage.ENABLE)
        [wait] = [e for e in stack.app.store.history(job_id) if e.kind == job.state.value]
        assert "answered 'unknown_ca' to our client certificate" in wait.detail["answer"]
        assert wait.detail["install"]["client_certificate_der"].endswith("format=der")
        message = stack.sandbox.store.select("sys_rest_message", "name=Strict API")[0]
        assert message["use_mutual_auth"] == "false" and message["protocol_name"] == ""
        assert strict.requests_served == 0
        strict.trust(local_ca(stack).root_pem)  # they install it
        resume_third_party(stack.app, job_id, source="test", actor="test", reason="installed")
        wait_all(stack, [job_id], timeout=60)
        assert stack.app.store.get_job(job_id).state is JobState.SUCCEEDED
        assert strict.requests_served == 2  # the proof before the switch, and verify's
    finally:
        strict.stop()


def test_the_server_presents_another_certificate_than_the_registered_one(
    stack: RunningStack, partner: ThirdPartyServer
) -> None:
    registered = ThirdPartyServer([]).server_certificate_pem  # what the job was told
    job_id = submit(stack, "Moved API", partner.url, registered, partner.port)
    error = failure(stack, job_id, Stage.ENABLE)  # found by the proof, before any switch
    assert error["check"] == "server_certificate"
    presented = hashlib.sha256(
        pki.cert_to_der(pki.parse_certificates(partner.server_certificate_pem)[0])
    ).hexdigest()
    expected = hashlib.sha256(pki.cert_to_der(pki.parse_certificates(registered)[0])).hexdigest()
    message = error["message"]
    assert "presents another server certificate than the registered one" in message
    assert f"it presents 'CN=localhost' (SHA-256 {presented})" in message
    assert f"the trust record holds 'CN=localhost' (SHA-256 {expected})" in message
    assert "registered trust certificate differs" in error["hint"]
    assert partner.requests_served == 0


def test_the_password_on_the_keystore_record_is_wrong(
    stack: RunningStack, partner: ThirdPartyServer
) -> None:
    job_id = submit(stack, "Careful API", partner.url, partner.server_certificate_pem, partner.port)
    assert stack.app.store.get_job(job_id).state is JobState.SUCCEEDED
    uploaded = stack.app.store.progress.get_output(job_id, Stage.UPLOAD_KEYSTORE)
    assert uploaded is not None
    keystore_id = KeystoreUploaded.model_validate_json(uploaded.message).keystore_sys_id
    wrong = "not-the-keystore-password"
    client = stack.app.deps.instances.client("sandbox")  # an admin edits the record
    client.update(
        "sys_certificate", keystore_id, {"key_store_password": wrong}, input_display_value=True
    )
    assert stack.sandbox.broken_keystores() == [keystore_id]
    served = partner.requests_served
    replay_verify(stack, job_id, "the third party reports failures")
    error = failure(stack, job_id)
    assert error["check"] == "keystore_password"
    assert f"cannot open keystore record 'twoway carefulapi' ({keystore_id})" in error["message"]
    assert "Keystore was tampered with, or password was incorrect" in error["message"]
    assert "replay stage 'upload-keystore'" in error["hint"]
    assert partner.requests_served == served  # found before any handshake
    real = stack.app.store.artifacts.get(job_id, "keystore_password")
    assert real is not None
    for text in (str(error), str(stack.app.store.history(job_id))):
        assert wrong not in text and real.decode() not in text


def test_a_legacy_protocol_property_is_reported_without_failing_verify(
    stack: RunningStack, partner: ThirdPartyServer
) -> None:
    """KB0824494: glide.httpclient.protocol.<profile>.* settings cause trouble; verify says
    so in the history, but the configuration itself is right and the handshake works."""
    stack.sandbox.set_property("glide.httpclient.protocol.mauthlegacyapi.port", "443")
    job_id = submit(stack, "Legacy API", partner.url, partner.server_certificate_pem, partner.port)
    assert stack.app.store.get_job(job_id).state is JobState.SUCCEEDED
    [warning] = [
        e.detail["message"]
        for e in stack.app.store.history(job_id)
        if e.kind == "configuration_warning"
    ]
    assert "glide.httpclient.protocol.mauthlegacyapi.port" in warning and "KB0824494" in warning
