"""Parsing certificate bundles, fingerprints and descriptions."""

from __future__ import annotations

import hashlib

import pytest

from workers.ca import Issued
from workers.errors import RequestInvalid
from workers.pki import (
    cert_to_der,
    cert_to_pem,
    describe,
    parse_certificates,
    sha256_fingerprint,
)


def test_bundle_with_text_around_blocks(issued: Issued) -> None:
    bundle = b"subject=...\nissuer=...\n" + issued.certificate_pem + b"\nnoise\n" + issued.chain_pem
    certificates = parse_certificates(bundle, what="chain")
    assert len(certificates) == 3
    assert cert_to_pem(certificates[0]) == issued.certificate_pem
    assert parse_certificates(bundle.decode()) == certificates  # str is accepted too


def test_crlf_pem_and_single_der(issued: Issued) -> None:
    crlf = issued.certificate_pem.replace(b"\n", b"\r\n")
    (leaf,) = parse_certificates(crlf)
    assert parse_certificates(cert_to_der(leaf)) == [leaf]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "'chain' is empty"),
        (b"just some text", "'chain' holds no PEM certificate"),
        (b"\x30\x03\x02\x01\x01", "'chain' holds no PEM certificate and is not a DER"),
    ],
)
def test_nothing_parseable_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(RequestInvalid, match=message):
        parse_certificates(data, what="chain")


def test_bad_second_certificate_is_named_and_not_echoed(issued: Issued) -> None:
    secret = b"-----BEGIN CERTIFICATE-----\nTUlJQnNlY3JldGdhcmJhZ2U=\n-----END CERTIFICATE-----\n"
    with pytest.raises(RequestInvalid) as caught:
        parse_certificates(issued.certificate_pem + secret, what="chain")
    assert caught.value.message == "certificate 2 in 'chain' is not valid DER/PEM"
    assert "TUlJ" not in str(caught.value)


def test_a_private_key_in_a_chain_field_is_refused(enrollment: object, issued: Issued) -> None:
    key_pem: bytes = enrollment.key_pem  # type: ignore[attr-defined]
    with pytest.raises(RequestInvalid, match="contains a private key") as caught:
        parse_certificates(issued.certificate_pem + key_pem, what="chain")
    assert key_pem.decode().splitlines()[1] not in str(caught.value)


def test_fingerprint_and_describe(issued: Issued) -> None:
    (leaf,) = parse_certificates(issued.certificate_pem)
    digest = hashlib.sha256(cert_to_der(leaf)).hexdigest()
    assert sha256_fingerprint(leaf) == digest
    facts = describe(leaf)
    assert facts["sha256"] == digest
    assert facts["subject"].startswith("CN=payments-client.example.com,")
    assert "Intermediate CA 1" in facts["issuer"]
    assert int(facts["serial"], 16) == leaf.serial_number
    assert facts["not_after"] == leaf.not_valid_after_utc.isoformat()
    assert facts["not_before"].endswith("+00:00")


def test_a_bundle_longer_than_any_real_chain_is_refused_unparsed() -> None:
    from tests.factories import PEM

    with pytest.raises(RequestInvalid, match="holds 17 certificates; at most 16"):
        parse_certificates(PEM * 17, what="chain")
    assert len(parse_certificates(PEM * 17, what="root", limit=None)) == 17
