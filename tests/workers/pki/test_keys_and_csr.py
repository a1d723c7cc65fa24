"""Key generation, public-key fingerprints and CSR contents."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from messages.job import KeyType, SubjectName
from workers.ca import Issued
from workers.errors import RequestInvalid
from workers.pki import build_csr, generate_private_key, public_key_sha256

if TYPE_CHECKING:
    from conftest import Enrollment

SUBJECT = SubjectName(
    cn="payments-client.example.com", ou="Payments", o="Acme", l="Berlin", st="Berlin", c="DE"
)
SANS = ["payments-client.example.com", "alt.example.com"]


@pytest.mark.parametrize(
    ("key_type", "kind", "size"),
    [
        (KeyType.RSA2048, rsa.RSAPrivateKey, 2048),
        (KeyType.RSA3072, rsa.RSAPrivateKey, 3072),
        (KeyType.RSA4096, rsa.RSAPrivateKey, 4096),  # the one slow key of the suite
        (KeyType.EC256, ec.EllipticCurvePrivateKey, 256),
        (KeyType.EC384, ec.EllipticCurvePrivateKey, 384),
    ],
)
def test_generate_private_key_gives_pkcs8_pem_of_each_type(
    key_type: KeyType, kind: type, size: int
) -> None:
    pem = generate_private_key(key_type)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, kind)
    assert key.key_size == size  # type: ignore[attr-defined]
    if isinstance(key, rsa.RSAPrivateKey):
        assert key.public_key().public_numbers().e == 65537


def test_keys_are_fresh_each_time() -> None:
    assert generate_private_key(KeyType.EC256) != generate_private_key(KeyType.EC256)


def test_public_key_sha256_is_the_same_for_key_csr_and_certificate(
    enrollment: Enrollment, issued: Issued
) -> None:
    digest = public_key_sha256(enrollment.key_pem)
    assert len(digest) == 64
    assert public_key_sha256(enrollment.csr_pem) == digest
    assert public_key_sha256(issued.certificate_pem) == digest
    assert public_key_sha256(generate_private_key(KeyType.EC256)) != digest


def test_public_key_sha256_refuses_what_is_not_a_key() -> None:
    with pytest.raises(RequestInvalid, match="expected a PEM"):
        public_key_sha256(b"hello")


def test_csr_carries_subject_in_order_sans_and_sha256() -> None:
    key = generate_private_key(KeyType.RSA2048)
    csr = x509.load_pem_x509_csr(build_csr(key, SUBJECT, SANS))
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    order = [attribute.oid for attribute in csr.subject]
    assert order == [
        NameOID.COUNTRY_NAME,
        NameOID.STATE_OR_PROVINCE_NAME,
        NameOID.LOCALITY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COMMON_NAME,
    ]
    assert csr.subject.rfc4514_string() == (
        "CN=payments-client.example.com,OU=Payments,O=Acme,L=Berlin,ST=Berlin,C=DE"
    )
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == SANS
    assert public_key_sha256(key) == public_key_sha256(build_csr(key, SUBJECT, SANS))


def test_csr_with_only_cn_and_no_sans_has_no_extension() -> None:
    key = generate_private_key(KeyType.EC384)
    csr = x509.load_pem_x509_csr(build_csr(key, SubjectName(cn="only-cn"), []))
    assert csr.subject.rfc4514_string() == "CN=only-cn"
    assert len(csr.extensions) == 0


def test_build_csr_refuses_a_broken_key_without_echoing_it() -> None:
    broken = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
    with pytest.raises(RequestInvalid) as caught:
        build_csr(broken, SUBJECT, [])
    assert "c2VjcmV0" not in str(caught.value)
