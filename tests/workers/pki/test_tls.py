"""mtls_request against real TLS servers: ours (Python ssl) and OpenSSL's s_server."""

from __future__ import annotations

import hashlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from messages.job import KeyType
from ops.dev.thirdparty import ThirdPartyServer
from workers.ca import LocalCa
from workers.errors import TransientError, VerificationFailed
from workers.pki import (
    Authority,
    HandshakeResult,
    IssuedChain,
    cert_to_der,
    cert_to_pem,
    general_names,
    generate_private_key,
    mtls_request,
    parse_certificates,
)
from workers.pki.identity import load_identity

if TYPE_CHECKING:
    from conftest import Enrollment


@pytest.fixture(scope="module")
def server(local_ca: LocalCa) -> Iterator[ThirdPartyServer]:
    with ThirdPartyServer([local_ca.root_pem]) as running:
        yield running


def request(
    url: str, enrollment: Enrollment, chain: IssuedChain, trust: bytes, **kwargs: float
) -> HandshakeResult:
    return mtls_request(
        url,
        private_key_pem=enrollment.key_pem,
        chain=chain.all_certs,
        trust=parse_certificates(trust),
        **kwargs,
    )


def test_success_against_a_trusted_leaf(
    server: ThirdPartyServer, enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    before = server.requests_served
    result = request(server.url, enrollment, issued_chain, server.server_certificate_pem)
    leaf = parse_certificates(server.server_certificate_pem)[0]
    assert result.status_code == 200
    assert result.protocol == "TLSv1.3"
    assert result.cipher.startswith("TLS_")
    assert result.server_sha256 == hashlib.sha256(cert_to_der(leaf)).hexdigest()
    assert server.requests_served == before + 1
    assert server.last_client_subjects[-1] == issued_chain.leaf.subject.rfc4514_string()


def test_success_against_the_server_ca_and_an_ip_address(
    server: ThirdPartyServer, enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    url = f"https://127.0.0.1:{server.port}/other/path?x=1"
    result = request(url, enrollment, issued_chain, server.server_ca_pem)
    assert result.status_code == 200


def test_server_not_in_trust(
    server: ThirdPartyServer, enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    stranger = cert_to_pem(Authority.new_root("Somebody Else").certificate)
    with pytest.raises(VerificationFailed) as caught:
        request(server.url, enrollment, issued_chain, stranger)
    assert caught.value.check == "server_certificate"
    assert "registered trust certificate differs" in caught.value.hint
    presented = hashlib.sha256(cert_to_der(parse_certificates(server.server_certificate_pem)[0]))
    assert f"it presents 'CN=localhost' (SHA-256 {presented.hexdigest()})" in caught.value.message
    assert "'CN=Somebody Else'" in caught.value.message


def test_hostname_mismatch(
    local_ca: LocalCa, enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    with ThirdPartyServer([local_ca.root_pem], hostnames=("api.example.net",)) as other:
        url = f"https://localhost:{other.port}/api"
        with pytest.raises(VerificationFailed) as caught:
            request(url, enrollment, issued_chain, other.server_certificate_pem)
    assert caught.value.check == "server_certificate"
    assert "Hostname mismatch" in caught.value.message
    assert "presents the registered certificate 'CN=api.example.net'" in caught.value.message
    assert "host name the certificate names" in caught.value.hint


def test_client_ca_not_trusted_by_the_server(
    tmp_path: Path, sealer: object, enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    other_ca = LocalCa(tmp_path / "ca", sealer, intermediates=0)  # type: ignore[arg-type]
    with ThirdPartyServer([other_ca.root_pem]) as strict:
        with pytest.raises(VerificationFailed) as caught:
            request(strict.url, enrollment, issued_chain, strict.server_ca_pem)
        assert strict.requests_served == 0
    assert caught.value.check == "client_certificate"
    assert "client-cert.pem" in caught.value.hint
    assert "answered 'unknown_ca' to our client certificate" in caught.value.message


def test_closed_port_is_transient(
    enrollment: Enrollment, issued_chain: IssuedChain, server: ThirdPartyServer
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError, match="cannot connect"):
        request(f"https://127.0.0.1:{port}/", enrollment, issued_chain, server.server_ca_pem)


def test_silent_endpoint_times_out_as_transient(
    enrollment: Enrollment, issued_chain: IssuedChain, server: ThirdPartyServer
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never speaks TLS
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/"
        with pytest.raises(TransientError):
            request(url, enrollment, issued_chain, server.server_ca_pem, timeout=0.5)


def test_http_400_no_required_certificate(
    enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    # an nginx-style answer: the handshake passed but the application saw no certificate
    body = b"<html><center>No required SSL certificate was sent</center></html>"
    answer = b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with one_shot_server(answer) as (port, trust), pytest.raises(VerificationFailed) as caught:
        request(f"https://localhost:{port}/", enrollment, issued_chain, trust)
    assert caught.value.check == "client_certificate"
    assert "no required SSL certificate was sent" in caught.value.message


def test_not_http_after_handshake(enrollment: Enrollment, issued_chain: IssuedChain) -> None:
    answer = b"SSH-2.0-OpenSSH\r\n\r\n"
    with one_shot_server(answer) as (port, trust), pytest.raises(VerificationFailed) as caught:
        request(f"https://localhost:{port}/", enrollment, issued_chain, trust)
    assert caught.value.check == "http_response"


# -- interop with OpenSSL's server -----------------------------------------------------


@pytest.fixture
def openssl_server(tmp_path: Path, local_ca: LocalCa) -> tuple[bytes, Path]:
    """Files for s_server (a server identity, the client CA); returns (trust PEM, dir)."""
    authority = Authority.new_root("s_server CA")
    key = generate_private_key(KeyType.EC256)
    leaf = authority.issue(
        key,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
        sans=general_names(["localhost"]),
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    (tmp_path / "server.pem").write_bytes(cert_to_pem(leaf))
    (tmp_path / "server.key").write_bytes(key)
    (tmp_path / "clients.pem").write_bytes(local_ca.root_pem)
    return cert_to_pem(authority.certificate), tmp_path


def start_s_server(directory: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-Verify", "1",
         "-cert", str(directory / "server.pem"), "-key", str(directory / "server.key"),
         "-CAfile", str(directory / "clients.pem"), *extra],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ACCEPT"):
            return process, port
    raise AssertionError("openssl s_server did not start")


def test_handshake_with_openssl_s_server(
    openssl_server: tuple[bytes, Path], enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    trust, directory = openssl_server
    process, port = start_s_server(directory)
    try:
        result = request(f"https://localhost:{port}/", enrollment, issued_chain, trust)
    finally:
        process.kill()
        process.wait()
    assert result.status_code == 200
    assert result.protocol == "TLSv1.3"


def test_openssl_s_server_refusing_us_over_tls12(
    openssl_server: tuple[bytes, Path], enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    trust, directory = openssl_server
    (directory / "clients.pem").write_bytes(cert_to_pem(Authority.new_root("other").certificate))
    process, port = start_s_server(directory, "-tls1_2")
    try:
        with pytest.raises(VerificationFailed) as caught:
            request(f"https://localhost:{port}/", enrollment, issued_chain, trust)
    finally:
        process.kill()
        process.wait()
    assert caught.value.check == "client_certificate"
    assert "TLSV1_ALERT_UNKNOWN_CA" in caught.value.message


# -- a one-connection TLS server that answers whatever it is told ------------------------


@contextmanager
def one_shot_server(answer: bytes) -> Iterator[tuple[int, bytes]]:
    """Serve one connection: read the request, send ``answer``; yields (port, trust PEM)."""
    authority = Authority.new_root("one-shot CA")
    key = generate_private_key(KeyType.EC256)
    leaf = authority.issue(
        key,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
        sans=general_names(["localhost"]),
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    load_identity(context, key, [leaf])

    def serve() -> None:
        connection, _ = listener.accept()
        with context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(4096)
            tls.sendall(answer)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield listener.getsockname()[1], cert_to_pem(leaf)
        thread.join(timeout=5)
