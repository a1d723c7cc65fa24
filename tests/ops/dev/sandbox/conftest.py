"""A fresh sandbox per test (it starts in milliseconds) and a JSON session for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jks
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ops.dev.sandbox import SandboxServer


class Api:
    """``requests.Session`` bound to a sandbox, sending JSON and Basic auth."""

    def __init__(self, srv: SandboxServer, username: str, password: str) -> None:
        self.srv = srv
        self.session = requests.Session()
        self.session.auth = (username, password)
        self.session.headers["Accept"] = "application/json"

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 5)
        return self.session.request(method, self.srv.url + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.call("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.call("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", path, **kw)

    def rows(self, table: str, query: str = "", **params: str) -> list[dict[str, Any]]:
        params["sysparm_query"] = query
        response = self.get(f"/api/now/table/{table}", params=params)
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["result"]
        return result

    def insert(self, table: str, values: dict[str, Any], **params: str) -> dict[str, Any]:
        response = self.post(f"/api/now/table/{table}", json=values, params=params)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()["result"]
        return result

    def attach(self, table: str, sys_id: str, name: str, data: bytes) -> requests.Response:
        params = {"table_name": table, "table_sys_id": sys_id, "file_name": name}
        headers = {"Content-Type": "application/octet-stream"}
        return self.post("/api/now/attachment/file", params=params, data=data, headers=headers)


@pytest.fixture
def srv() -> Iterator[SandboxServer]:
    server = SandboxServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(srv: SandboxServer) -> Iterator[Api]:
    client = Api(srv, srv.username, srv.password)
    yield client
    client.session.close()


@pytest.fixture
def readonly(srv: SandboxServer) -> Iterator[Api]:
    client = Api(srv, srv.readonly_username, srv.readonly_password)
    yield client
    client.session.close()


@dataclass(frozen=True)
class Material:
    """A client key with its certificate, as DER, PKCS#8 and PEM."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pkcs8(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def jks(self, store_password: str, key_password: str | None = None) -> bytes:
        entry = jks.PrivateKeyEntry.new("client", [self.cert_der], self.key_pkcs8, "pkcs8")
        if key_password is not None:
            entry.encrypt(key_password)
        data: bytes = jks.KeyStore.new("jks", [entry]).saves(store_password)
        return data


def _material() -> Material:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Twoway Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "client.twoway.test"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    return Material(key, cert)


@pytest.fixture(scope="session")
def material() -> Material:
    return _material()
