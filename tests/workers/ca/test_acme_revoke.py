"""ACME ``revokeCert`` against a real pebble: revoked at the CA (its management API says
so), and revoking again is not an error."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator

import pytest
from cryptography import x509

from tests.acme_servers import Pebble
from tests.workers.ca.test_acme_ca import adapter, csr
from workers.ca import Issued
from workers.ca.base import RevocableCa
from workers.store import Store


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    """This module counts pebble's requests: its own pebble, which takes every good nonce
    (by default pebble refuses 5 % of them, and the client's badNonce retry is one more
    request; test_acme_ca covers that retry)."""
    server = Pebble(tmp_path_factory.mktemp("pebble"), env={"PEBBLE_WFE_NONCEREJECT": "0"})
    yield server.start()
    server.stop()


def pebble_status(pebble: Pebble, serial: int) -> dict[str, object]:
    """What pebble's management API says of a certificate."""
    context = ssl.create_default_context(cafile=str(pebble.tls_root_file))
    url = f"https://127.0.0.1:{pebble.management_port}/cert-status-by-serial/{serial:x}"
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:
        status: dict[str, object] = json.loads(answer.read())
    return status


def test_revoke_cert_revokes_at_pebble_and_again_is_harmless(pebble: Pebble, store: Store) -> None:
    ca = adapter(pebble, store)
    assert isinstance(ca, RevocableCa)
    issued = ca.submit(csr(), request_key="job-revoke")
    assert isinstance(issued, Issued)
    serial = x509.load_pem_x509_certificate(issued.certificate_pem).serial_number
    assert pebble_status(pebble, serial)["Status"] == "Valid"
    outcome = ca.revoke(issued.certificate_pem, reason="superseded")
    assert outcome.outcome == "revoked"
    status = pebble_status(pebble, serial)
    print("pebble says:", {k: status[k] for k in ("Status", "Serial", "Reason", "RevokedAt")})
    assert status["Status"] == "Revoked" and status["Reason"] == 4
    assert ca.revoke(issued.certificate_pem, reason="superseded").outcome == "revoked"
    assert pebble.requests_to("/revoke-cert") == 2
