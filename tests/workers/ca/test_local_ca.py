"""LocalCa: a hierarchy made the right way, sealed on disk, idempotent, multi-process safe."""

from __future__ import annotations

import multiprocessing
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from messages.job import KeyType, SubjectName
from workers.ca import CaAdapter, Issued, LocalCa, Pending
from workers.errors import CaRejected, ConfigError
from workers.pki import (
    Authority,
    build_csr,
    generate_private_key,
    parse_certificates,
    subject_name,
)
from workers.sealing import Sealer

SUBJECT = SubjectName(cn="client.example.com", o="Acme", c="DE")
SANS = ["client.example.com"]


@pytest.fixture(scope="module")
def master_key() -> str:
    return Sealer.generate_key()


@pytest.fixture
def ca(tmp_path: Path, master_key: str) -> LocalCa:
    return LocalCa(tmp_path / "ca", Sealer([master_key]), intermediates=2)


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return generate_private_key(KeyType.EC256)


@pytest.fixture(scope="module")
def csr_pem(key_pem: bytes) -> bytes:
    return build_csr(key_pem, SUBJECT, SANS)


def submit(ca: LocalCa, csr_pem: bytes, key: str = "job-1") -> Issued:
    result = ca.submit(csr_pem, request_key=key)
    assert isinstance(result, Issued)
    return result


def extension(cert: x509.Certificate, kind: type) -> object:
    return cert.extensions.get_extension_for_class(kind).value


def test_is_a_synchronous_ca_adapter(ca: LocalCa) -> None:
    assert isinstance(ca, CaAdapter)
    assert ca.synchronous is True
    assert ca.name == "twoway-local"


def test_hierarchy_is_made_the_right_way(ca: LocalCa) -> None:
    issuing, middle, root = parse_certificates(ca.ca_chain_pem)
    assert parse_certificates(ca.root_pem) == [root]
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    middle.verify_directly_issued_by(root)
    issuing.verify_directly_issued_by(middle)
    for cert, path_length in ((root, 2), (middle, 1), (issuing, 0)):
        constraints = extension(cert, x509.BasicConstraints)
        assert constraints == x509.BasicConstraints(ca=True, path_length=path_length)
        usage = extension(cert, x509.KeyUsage)
        assert usage.key_cert_sign and usage.crl_sign  # type: ignore[attr-defined]
        ski = extension(cert, x509.SubjectKeyIdentifier)
        aki = extension(cert, x509.AuthorityKeyIdentifier)
        issuer = {root: root, middle: root, issuing: middle}[cert]
        issuer_ski = extension(issuer, x509.SubjectKeyIdentifier)
        assert aki.key_identifier == issuer_ski.digest  # type: ignore[attr-defined]
        assert ski.digest  # type: ignore[attr-defined]


def test_leaf_carries_what_a_tls_client_needs(ca: LocalCa, csr_pem: bytes) -> None:
    before = datetime.now(UTC)
    issued = submit(ca, csr_pem)
    leaf = parse_certificates(issued.certificate_pem)[0]
    issuing = parse_certificates(ca.ca_chain_pem)[0]
    leaf.verify_directly_issued_by(issuing)
    assert issued.chain_pem == ca.ca_chain_pem
    assert issued.request_id == format(leaf.serial_number, "x")
    assert leaf.subject == subject_name(SUBJECT)
    assert extension(leaf, x509.SubjectAlternativeName).get_values_for_type(x509.DNSName) == SANS  # type: ignore[attr-defined]
    assert list(extension(leaf, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.CLIENT_AUTH]  # type: ignore[call-overload]
    usage = extension(leaf, x509.KeyUsage)
    assert usage.digital_signature and not usage.key_encipherment  # type: ignore[attr-defined]
    assert extension(leaf, x509.BasicConstraints) == x509.BasicConstraints(False, None)
    assert 0 < leaf.serial_number < 2**159
    assert abs(leaf.not_valid_before_utc - (before - timedelta(minutes=5))) < timedelta(seconds=5)
    assert abs(leaf.not_valid_after_utc - (before + timedelta(days=365))) < timedelta(seconds=5)
    assert leaf.not_valid_after_utc <= issuing.not_valid_after_utc


def test_rsa_leaf_also_allows_key_encipherment(tmp_path: Path, master_key: str) -> None:
    ca = LocalCa(tmp_path / "rsa", Sealer([master_key]), intermediates=0)
    key = rsa.generate_private_key(65537, 2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rsa-client")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    leaf = parse_certificates(submit(ca, csr).certificate_pem)[0]
    usage = extension(leaf, x509.KeyUsage)
    assert usage.digital_signature and usage.key_encipherment  # type: ignore[attr-defined]
    assert parse_certificates(ca.ca_chain_pem) == parse_certificates(ca.root_pem)


def test_validity_never_reaches_past_the_issuer(key_pem: bytes) -> None:
    root = Authority.new_root("short-lived", validity=timedelta(days=10))
    leaf = root.issue(key_pem, subject_name(SUBJECT), validity=timedelta(days=365))
    assert leaf.not_valid_after_utc == root.certificate.not_valid_after_utc


def test_same_request_key_returns_the_same_certificate_without_signing(
    ca: LocalCa, key_pem: bytes, csr_pem: bytes, master_key: str
) -> None:
    first = submit(ca, csr_pem)
    assert submit(ca, csr_pem) == first
    # a CSR rebuilt from the same key and subject (ECDSA signs differently) is the same request
    assert submit(ca, build_csr(key_pem, SUBJECT, SANS)) == first
    # another process (a new LocalCa on the same directory) sees the log too
    again = LocalCa(ca.directory, Sealer([master_key]), intermediates=2)
    assert submit(again, csr_pem) == first
    assert ca.issued_count() == 1
    submit(ca, csr_pem, key="job-2")
    assert ca.issued_count() == 2


def test_same_request_key_with_another_csr_is_refused(ca: LocalCa, csr_pem: bytes) -> None:
    submit(ca, csr_pem)
    other = build_csr(generate_private_key(KeyType.EC256), SUBJECT, SANS)
    with pytest.raises(CaRejected, match="already used for a different CSR") as caught:
        ca.submit(other, request_key="job-1")
    assert caught.value.request_id
    assert ca.issued_count() == 1


def test_csr_whose_signature_does_not_verify(ca: LocalCa, csr_pem: bytes) -> None:
    csr = x509.load_pem_x509_csr(csr_pem)
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CaRejected, match="signature does not verify"):
        ca.submit(tampered, request_key="tampered")
    assert ca.issued_count() == 0


def test_what_is_not_a_csr(ca: LocalCa) -> None:
    with pytest.raises(CaRejected, match="not a PEM PKCS#10 CSR"):
        ca.submit(b"not a csr", request_key="bad")


def test_weak_rsa_key(ca: LocalCa) -> None:
    key = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the weak key under test
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(CaRejected, match="RSA keys below 2048 bits"):
        ca.submit(csr, request_key="bad")


def test_poll_has_nothing_pending(ca: LocalCa) -> None:
    with pytest.raises(CaRejected, match="nothing pending") as caught:
        ca.poll("abc")
    assert caught.value.request_id == "abc"
    assert Pending("x").request_id == "x"


def test_ca_keys_are_sealed_on_disk(ca: LocalCa, master_key: str) -> None:
    ca.root_pem  # noqa: B018 - creates the CA
    directory = ca.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    sealed = sorted(directory.glob("*.key.sealed"))
    assert [path.name for path in sealed] == [
        "intermediate-1.key.sealed",
        "intermediate-2.key.sealed",
        "root.key.sealed",
    ]
    for path in sealed:
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert Sealer([master_key]).unseal(data).startswith(b"-----BEGIN PRIVATE KEY-----")
    assert "PRIVATE" not in repr(ca)


def test_wrong_master_key_or_shape_is_a_config_error(ca: LocalCa) -> None:
    root = ca.root_pem
    with pytest.raises(ConfigError, match="cannot be loaded"):
        _ = LocalCa(ca.directory, Sealer([Sealer.generate_key()]), intermediates=2).root_pem
    with pytest.raises(ConfigError, match="has 2 intermediate"):
        _ = LocalCa(ca.directory, ca._sealer, intermediates=1).root_pem
    assert LocalCa(ca.directory, ca._sealer, intermediates=2).root_pem == root


def _race(directory: str, master_key: str, csr_pem: bytes, barrier: object, out: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    ca = LocalCa(Path(directory), Sealer([master_key]), intermediates=1)
    issued = ca.submit(csr_pem, request_key="raced")
    assert isinstance(issued, Issued)
    out.put((ca.root_pem, issued.certificate_pem))  # type: ignore[attr-defined]


def test_several_processes_starting_at_once_share_one_ca(
    tmp_path: Path, master_key: str, csr_pem: bytes
) -> None:
    context = multiprocessing.get_context("spawn")
    count = 4
    barrier, out = context.Barrier(count), context.Queue()
    directory = str(tmp_path / "shared")
    processes = [
        context.Process(target=_race, args=(directory, master_key, csr_pem, barrier, out))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    results = [out.get(timeout=60) for _ in range(count)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len({root for root, _ in results}) == 1
    assert len({cert for _, cert in results}) == 1
    assert LocalCa(Path(directory), Sealer([master_key])).issued_count() == 1
