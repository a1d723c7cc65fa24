"""A fresh sandbox instance per test, and a client tuned to fail fast against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509

from messages import KeyType, SubjectName
from ops.dev.sandbox import SandboxServer
from workers.pki import (
    Authority,
    IssuedChain,
    build_jks,
    cert_to_der,
    generate_private_key,
    subject_name,
)
from workers.servicenow import (
    BasicAuth,
    CallRecord,
    Instance,
    InstanceFacts,
    ServiceNowClient,
    discover,
)


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    srv = SandboxServer().start(host="127.0.0.1", port=0)
    try:
        yield srv
    finally:
        srv.stop()


def _make_client(srv: SandboxServer, **options: Any) -> ServiceNowClient:
    settings: dict[str, Any] = {
        "timeout": (1.0, 1.0),
        "retries": 4,
        "backoff": 0.01,
        "max_wait": 2.0,
    }
    settings.update(options)
    return ServiceNowClient(
        srv.url, BasicAuth(username=srv.username, password=srv.password), **settings
    )


MakeClient = Callable[..., ServiceNowClient]


@pytest.fixture
def make_client(sandbox: SandboxServer) -> Iterator[MakeClient]:
    """Clients for this test's sandbox: short timeouts, fast backoff; closed after the test."""
    made: list[ServiceNowClient] = []

    def make(**options: Any) -> ServiceNowClient:
        made.append(_make_client(sandbox, **options))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def calls() -> list[CallRecord]:
    return []


@pytest.fixture
def client(sandbox: SandboxServer, calls: list[CallRecord]) -> Iterator[ServiceNowClient]:
    with _make_client(sandbox, observer=calls.append) as c:
        yield c


@pytest.fixture
def facts(client: ServiceNowClient) -> InstanceFacts:
    return discover(client)


@pytest.fixture
def instance(client: ServiceNowClient, facts: InstanceFacts) -> Instance:
    return Instance(client, facts)


@dataclass(frozen=True)
class Material:
    """A client keystore that loads with its password, another one, a server certificate."""

    keystore: bytes
    password: str
    other_keystore: bytes
    server_der: bytes
    other_server_der: bytes


def _material() -> Material:
    root = Authority.new_root("twoway test root", key_type=KeyType.EC256)
    key_pem = generate_private_key(KeyType.EC256)
    leaf = root.issue(key_pem, subject_name(SubjectName(cn="client.twoway.test")))
    chain = IssuedChain(leaf=leaf, intermediates=(), root=root.certificate)
    password = "correct-horse-battery-staple"
    keystore = build_jks(private_key_pem=key_pem, chain=chain, alias="twoway", password=password)
    other = build_jks(private_key_pem=key_pem, chain=chain, alias="rotated", password=password)
    servers = [
        root.issue(
            generate_private_key(KeyType.EC256),
            subject_name(SubjectName(cn=cn)),
            extended_key_usage=(x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,),
        )
        for cn in ("pay.example.test", "ledger.example.test")
    ]
    return Material(
        keystore=keystore,
        password=password,
        other_keystore=other,
        server_der=cert_to_der(servers[0]),
        other_server_der=cert_to_der(servers[1]),
    )


_MATERIAL: list[Material] = []


@pytest.fixture
def material() -> Material:
    if not _MATERIAL:  # key generation is the slow part: once per session
        _MATERIAL.append(_material())
    return _MATERIAL[0]
