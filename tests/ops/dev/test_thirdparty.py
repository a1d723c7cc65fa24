"""ThirdPartyServer: a real mutual-TLS endpoint, probed with a real Python TLS client."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator, Sequence

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from messages.job import KeyType
from ops.dev.thirdparty import ThirdPartyServer
from workers.errors import TransientError, VerificationFailed
from workers.pki import (
    Authority,
    cert_to_pem,
    generate_private_key,
    mtls_request,
    parse_certificates,
)
from workers.pki.identity import load_identity


class Client:
    """A client identity: a key and its chain under a small CA of its own."""

    def __init__(self, common_name: str) -> None:
        self.ca = Authority.new_root(f"{common_name} CA")
        self.key = generate_private_key(KeyType.EC256)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.leaf = self.ca.issue(self.key, name)
        self.ca_pem = cert_to_pem(self.ca.certificate)

    @property
    def chain(self) -> Sequence[x509.Certificate]:
        return (self.leaf, self.ca.certificate)


def get(server: ThirdPartyServer, client: Client | None, path: str = "/api/ping") -> bytes:
    """One raw HTTPS GET; returns the whole answer."""
    context = ssl.create_default_context(cadata=server.server_ca_pem.decode())
    if client is not None:
        load_identity(context, client.key, client.chain)
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
        return answer


@pytest.fixture(scope="module")
def client() -> Client:
    return Client("demo-client")


@pytest.fixture
def server(client: Client) -> Iterator[ThirdPartyServer]:
    with ThirdPartyServer([client.ca_pem]) as running:
        yield running


def test_server_identity(server: ThirdPartyServer) -> None:
    (leaf,) = parse_certificates(server.server_certificate_pem)
    (ca,) = parse_certificates(server.server_ca_pem)
    leaf.verify_directly_issued_by(ca)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert server.url == f"https://localhost:{server.port}/api"


def test_answers_200_json_naming_the_client(server: ThirdPartyServer, client: Client) -> None:
    answer = get(server, client, "/any/path")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert json.loads(body) == {"ok": True, "client": "demo-client"}
    assert server.requests_served == 1
    assert server.last_client_subjects == ["CN=demo-client"]


def test_no_client_certificate_is_refused(server: ThirdPartyServer) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(server, None)
    assert server.requests_served == 0


def test_trusting_another_client_ca_while_running(server: ThirdPartyServer) -> None:
    newcomer = Client("newcomer")
    trust = parse_certificates(server.server_certificate_pem)
    with pytest.raises(VerificationFailed) as caught:
        mtls_request(server.url, private_key_pem=newcomer.key, chain=newcomer.chain, trust=trust)
    assert caught.value.check == "client_certificate"
    server.trust(newcomer.ca_pem)
    result = mtls_request(
        server.url, private_key_pem=newcomer.key, chain=newcomer.chain, trust=trust
    )
    assert result.status_code == 200
    assert server.last_client_subjects[-1] == "CN=newcomer"


def test_trusting_the_client_certificate_itself(client: Client) -> None:
    # the runbook's step C: the third party installs client-cert.pem, not our CA
    with ThirdPartyServer([cert_to_pem(client.leaf)]) as server:
        assert get(server, client).startswith(b"HTTP/1.1 200 OK")


def test_stop_closes_the_port(client: Client) -> None:
    server = ThirdPartyServer([client.ca_pem]).start()
    url = server.url
    server.stop()
    trust = parse_certificates(server.server_ca_pem)
    with pytest.raises(TransientError):
        mtls_request(url, private_key_pem=client.key, chain=client.chain, trust=trust, timeout=2)


def test_port_before_start_is_an_error(client: Client) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = ThirdPartyServer([client.ca_pem]).url
