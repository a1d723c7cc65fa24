"""Reading revocation as CAs publish it: a CRL at the distribution point in the
certificate (the gateway serving the local CA's), and an OCSP responder (``openssl
ocsp``) named in its Authority Information Access."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from messages import KeyType, SubjectName
from ops.dev.stack import Stack, StackOptions
from tests.e2e.conftest import local_ca
from workers.ca.local import LocalCa
from workers.errors import CaRejected, CaUnavailable
from workers.pki import Authority, build_csr, cert_to_pem, generate_private_key
from workers.pki.keys import load_private_key
from workers.pki.revocation_status import published_status


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


def test_the_crl_distribution_point_served_by_the_gateway(stack: Stack) -> None:
    served = local_ca(stack)
    url = f"{stack.gateway.url}/v1/ca/local/crl"
    # The same CA, configured with crl_url: what it issues names the gateway's CRL.
    ca = LocalCa(served.directory, served._sealer, name=served.name, crl_url=url)
    csr = build_csr(generate_private_key(KeyType.EC256), SubjectName(cn="crl-dp"), ["a.test"])
    issued = ca.submit(csr, request_key="crl-dp-1")
    leaf = x509.load_pem_x509_certificate(issued.certificate_pem)
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for p in points for n in p.full_name or []] == [url]
    assert published_status(issued.certificate_pem, issued.chain_pem) is False
    ca.revoke(issued.certificate_pem, reason="key_compromise")
    assert published_status(issued.certificate_pem, issued.chain_pem) is True
    # A CRL is only believed when the issuer signed it.
    stranger = Authority.new_root("not the issuer")
    with pytest.raises(CaRejected, match=r"not signed by the certificate's issuer|no issuer"):
        published_status(issued.certificate_pem, cert_to_pem(stranger.certificate))


def _ocsp_leaf(ca: Authority, ca_key: object, url: str, cn: str) -> x509.Certificate:
    key = load_private_key(generate_private_key(KeyType.EC256))
    now = datetime.now(UTC)
    access = x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url)
    )
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.AuthorityInformationAccess([access]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )


def _index_line(cert: x509.Certificate, revoked: bool) -> str:
    expiry = cert.not_valid_after_utc.strftime("%y%m%d%H%M%SZ")
    when = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%y%m%d%H%M%SZ")
    status, revocation = ("R", f"{when},keyCompromise") if revoked else ("V", "")
    serial = format(cert.serial_number, "X")
    serial = serial if len(serial) % 2 == 0 else "0" + serial
    subject = "/CN=" + cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value  # type: ignore[operator]
    return f"{status}\t{expiry}\t{revocation}\t{serial}\tunknown\t{subject}\n"


def test_an_ocsp_responder_in_the_aia(tmp_path: Path) -> None:
    ca = Authority.new_root("twoway ocsp test CA")
    ca_key = load_private_key(ca.private_key_pem())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    good = _ocsp_leaf(ca, ca_key, url, "good.test")
    bad = _ocsp_leaf(ca, ca_key, url, "bad.test")
    (tmp_path / "index.txt").write_text(_index_line(good, False) + _index_line(bad, True))
    (tmp_path / "ca.pem").write_bytes(cert_to_pem(ca.certificate))
    (tmp_path / "ca.key").write_bytes(ca.private_key_pem())
    chain = cert_to_pem(ca.certificate)
    pem = lambda cert: cert.public_bytes(Encoding.PEM)  # noqa: E731
    with pytest.raises(CaUnavailable):  # nobody answers yet
        published_status(pem(good), chain, timeout=(0.5, 1))
    responder = subprocess.Popen(
        ["openssl", "ocsp", "-index", "index.txt", "-port", str(port),
         "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=(tmp_path / "ocsp.log").open("wb"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while "waiting for ocsp client" not in (tmp_path / "ocsp.log").read_text().lower():
            assert time.monotonic() < deadline, "openssl ocsp did not listen"
            time.sleep(0.05)
        assert published_status(pem(good), chain) is False
        assert published_status(pem(bad), chain) is True
    finally:
        responder.kill()
        responder.wait()


def test_a_certificate_naming_neither_gives_none() -> None:
    ca = Authority.new_root("plain CA")
    leaf = ca.issue(generate_private_key(KeyType.EC256), x509.Name([]), sans=[])
    assert published_status(cert_to_pem(leaf), cert_to_pem(ca.certificate)) is None
