"""The acme adapter against a real ACME server: Debian's pebble, validating through
pebble-challtestsrv, which the hook (tests/acme_hook.py) publishes to."""

from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from messages import KeyType, SubjectName
from tests.acme_servers import HOOK, Pebble
from workers.ca import Issued, Pending
from workers.ca.acme import AcmeCa
from workers.ca.acme_profile import make_acme_ca
from workers.config import AcmeCaProfile
from workers.errors import CaRejected, CaUnavailable, CertificateRejected, RequestInvalid
from workers.pki import build_csr, check_issued, generate_private_key
from workers.store import Store

SUBJECT = SubjectName(cn="partner-1-client", o="twoway tests", c="DE")
SANS = ["mtls-client.example.test", "second.example.test"]


def profile(pebble: Pebble, **changes: Any) -> AcmeCaProfile:
    values: dict[str, Any] = {
        "adapter": "acme",
        "directory": pebble.directory_url,
        "ca_bundle": pebble.tls_root_file,
        "challenge": {"type": "dns-01", "command": pebble.hook_command()},
        **changes,
    }
    return AcmeCaProfile.model_validate(values)


def adapter(pebble: Pebble, store: Store, env: dict[str, str] | None = None, **kw: Any) -> AcmeCa:
    return make_acme_ca("pebble", profile(pebble, **kw), store.acme, environ=env or {})


def csr(sans: list[str] = SANS) -> bytes:
    return build_csr(generate_private_key(KeyType.EC256), SUBJECT, sans)


def checked(issued: Issued | Pending, request: bytes, pebble: Pebble, **kw: Any) -> Any:
    assert isinstance(issued, Issued)
    return check_issued(
        certificate_pem=issued.certificate_pem,
        chain_pem=issued.chain_pem,
        csr_pem=request,
        subject=SUBJECT,
        dns_sans=SANS,
        min_remaining=timedelta(days=1),
        trusted_roots=(pebble.root_pem(),),
        **kw,
    )


def test_dns01_issues_once_per_request_key_and_poll_finds_the_same_order(
    pebble: Pebble, store: Store
) -> None:
    ca, request = adapter(pebble, store), csr()
    before = pebble.orders_created()
    first = ca.submit(request, request_key="job-1")
    again = ca.submit(request, request_key="job-1")  # a redelivered wait-for-ca
    polled = ca.poll(first.request_id)
    assert pebble.orders_created() == before + 1
    assert first.request_id == again.request_id == polled.request_id
    assert first.request_id.startswith(pebble.directory_url.removesuffix("/dir"))
    assert isinstance(again, Issued) and isinstance(first, Issued)
    assert again.certificate_pem == first.certificate_pem
    # pebble's subject is the first DNS name alone: the acme default keeps only the names
    chain = checked(first, request, pebble, subject_keep=())
    assert chain.leaf.subject.rfc4514_string() == f"CN={SANS[0]}"
    with pytest.raises(CertificateRejected, match=r"subject CN is .mtls-client"):
        checked(first, request, pebble)  # subject_keep "all" (the manual CA's default)


def test_http01_through_the_same_kind_of_hook(pebble: Pebble, store: Store) -> None:
    request = csr(["http-client.example.test"])
    issued = adapter(
        pebble, store, challenge={"type": "http-01", "command": pebble.hook_command()}
    ).submit(request, request_key="job-http")
    assert isinstance(issued, Issued)
    assert b"BEGIN CERTIFICATE" in issued.certificate_pem


def test_the_account_key_is_made_once_and_kept_sealed(pebble: Pebble, store: Store) -> None:
    adapter(pebble, store).submit(csr(), request_key="job-a")
    adapter(pebble, store).submit(csr(), request_key="job-b")  # a new process: same account
    engine = create_engine(store.url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT key, url FROM twoway_acme_accounts")).all()
    engine.dispose()
    assert len(rows) == 1 and rows[0].url.startswith("https://127.0.0.1")
    assert b"PRIVATE KEY" not in bytes(rows[0].key)  # sealed, never in the clear
    account = store.acme.account("pebble", pebble.directory_url)
    assert account is not None and b"BEGIN PRIVATE KEY" in account.key_pem


def test_a_failing_hook_is_named_in_the_error(
    pebble: Pebble, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOWAY_TEST_HOOK_FAIL", "DNS API answered 503")
    name = f"hook-{secrets.token_hex(4)}.example.test"  # new: pebble reuses valid authzs
    with pytest.raises(CaUnavailable) as failed:
        adapter(pebble, store).submit(csr([name]), request_key="job-hook")
    said = failed.value.message
    assert "dns-01 hook" in said and str(HOOK) in said  # the hook named as configured
    assert f"present _acme-challenge.{name}." in said
    assert "exit status 3" in said and "DNS API answered 503" in said


def test_a_hook_that_cannot_run_is_permanent(pebble: Pebble, store: Store) -> None:
    broken = {"type": "dns-01", "command": ["/nonexistent/twoway-hook"]}
    with pytest.raises(CaRejected, match=r"hook ./nonexistent/twoway-hook.* cannot run"):
        adapter(pebble, store, challenge=broken).submit(csr(), request_key="job-nohook")


def test_processing_pauses_and_the_poller_finishes_the_same_order(
    pebble: Pebble, store: Store
) -> None:
    ca, request = adapter(pebble, store, issue_wait_s=0), csr()
    before = pebble.orders_created()
    paused = ca.submit(request, request_key="job-pause")
    assert isinstance(paused, Pending)  # pebble answers finalize with "processing"
    result = ca.poll(paused.request_id)
    assert isinstance(result, Issued) and result.request_id == paused.request_id
    assert pebble.orders_created() == before + 1
    checked(result, request, pebble, subject_keep=())


def test_a_job_without_dns_names_is_refused_before_any_order(pebble: Pebble, store: Store) -> None:
    before = pebble.orders_created()
    with pytest.raises(RequestInvalid, match="dns_sans"):
        adapter(pebble, store).submit(csr([]), request_key="job-nonames")
    assert pebble.orders_created() == before


def test_an_untrusted_directory_is_refused_naming_ca_bundle(pebble: Pebble, store: Store) -> None:
    ca = make_acme_ca("pebble", profile(pebble, ca_bundle=None), store.acme, environ={})
    with pytest.raises(CaRejected, match="TLS certificate does not verify") as refused:
        ca.submit(csr(), request_key="job-tls")
    assert "ca_bundle" in refused.value.hint


def test_external_account_binding(tmp_path: Path, store: Store) -> None:
    kid, hmac = "twoway-kid", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
    server = Pebble(tmp_path / "eab", eab={kid: hmac}).start()
    try:
        without = make_acme_ca("eab", profile(server), store.acme, environ={})
        with pytest.raises(CaRejected, match="externalAccountRequired") as refused:
            without.submit(csr(), request_key="job-1")
        assert "eab_kid_env" in refused.value.hint
        env = {"T_EAB_KID": kid, "T_EAB_HMAC": hmac}
        bound = profile(server, eab_kid_env="T_EAB_KID", eab_hmac_env="T_EAB_HMAC")
        with_eab = make_acme_ca("eab-bound", bound, store.acme, environ=env)
        assert isinstance(with_eab.submit(csr(), request_key="job-2"), Issued)
        assert hmac not in repr(with_eab._session.__dict__)
    finally:
        server.stop()
    assert os.environ.get("T_EAB_HMAC") is None


def test_a_refused_nonce_is_retried_at_once_then_transient(tmp_path: Path, store: Store) -> None:
    # pebble refusing every nonce: each request is sent four times, then the stage retries
    server = Pebble(tmp_path / "nonces", env={"PEBBLE_WFE_NONCEREJECT": "100"}).start()
    try:
        ca = make_acme_ca("nonces", profile(server), store.acme, environ={})
        with pytest.raises(CaUnavailable, match="register the account: badNonce"):
            ca.submit(csr(), request_key="job-1")
        assert server.requests_to("/sign-me-up") == 4
    finally:
        server.stop()


@pytest.mark.slow
def test_validation_still_running_pauses_and_the_poll_goes_on_with_that_challenge(
    tmp_path: Path, store: Store
) -> None:
    # pebble's VA sleeping 0-5 s before each of its three validations: the run does not
    # wait for it (all three drawing 0 s, 1 in 216, would let the first run finish); every
    # good nonce taken, since the challenge's requests are counted (a badNonce retry is one)
    slow = {"PEBBLE_VA_NOSLEEP": "", "PEBBLE_VA_SLEEPTIME": "6", "PEBBLE_WFE_NONCEREJECT": "0"}
    server = Pebble(tmp_path / "slow-va", env=slow).start()
    try:
        ca = make_acme_ca("slow", profile(server, validation_wait_s=0), store.acme, environ={})
        name = f"slow-{secrets.token_hex(4)}.example.test"
        result = ca.submit(csr([name]), request_key="job-1")
        assert isinstance(result, Pending)  # answered, not yet validated
        for _ in range(80):  # what the poller does, round after round
            time.sleep(0.25)
            result = ca.poll(result.request_id)
            if isinstance(result, Issued):
                break
        assert isinstance(result, Issued)
        assert server.requests_to("/chalZ/") == 1  # the challenge was answered once
        assert server.orders_created() == 1
    finally:
        server.stop()
