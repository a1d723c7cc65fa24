"""The estate sandbox holds what a real instance's hand-made estate holds, through the
same Table and Attachment APIs as everything else."""

from __future__ import annotations

from collections.abc import Iterator

import jks
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from ops.dev.sandbox import EstateEndpoints, SandboxServer
from ops.dev.sandbox.estate import LEGACY_PROPERTY
from tests.ops.dev.sandbox.conftest import Api


@pytest.fixture
def estate_api() -> Iterator[tuple[SandboxServer, Api]]:
    with SandboxServer(estate=EstateEndpoints()) as srv:
        yield srv, Api(srv, srv.username, srv.password)


def _rows(api: Api, table: str, query: str = "") -> list[dict[str, str]]:
    answer = api.get(f"/api/now/table/{table}", params={"sysparm_query": query})
    assert answer.status_code == 200
    rows: list[dict[str, str]] = answer.json()["result"]
    return rows


def _ref(value: object) -> str:
    return str(value["value"]) if isinstance(value, dict) else str(value)


def test_keystores_of_every_kind(estate_api: tuple[SandboxServer, Api]) -> None:
    srv, api = estate_api
    facts = srv.facts
    certs = {r["name"]: r for r in _rows(api, "sys_certificate")}
    assert certs["hr client"]["active"] == "false"
    assert certs["vendor client (PKCS12)"]["type"] == facts.pkcs12_type[0]
    assert certs["billing client (public CA)"]["issuer"].startswith("O=Example Trust Services")
    assert certs["ledger client"]["expires_in_days"].startswith("-")  # expired
    assert certs["shipping partner server"]["type"] == facts.trust_store_type[0]
    p12 = certs["vendor client (PKCS12)"]["sys_id"]
    [attachment] = _rows(api, "sys_attachment", f"table_sys_id={p12}")
    data = api.get(f"/api/now/attachment/{attachment['sys_id']}/file").content
    with pytest.raises(ValueError):  # its certificates too are behind the password
        pkcs12.load_key_and_certificates(data, None)
    jks_id = certs["billing client (public CA)"]["sys_id"]
    [attachment] = _rows(api, "sys_attachment", f"table_sys_id={jks_id}")
    data = api.get(f"/api/now/attachment/{attachment['sys_id']}/file").content
    with pytest.raises(jks.util.KeystoreSignatureException):  # a password of its own
        jks.KeyStore.loads(data, "not the password")
    assert srv.broken_keystores() == []  # every active keystore loads with its password


def test_profiles_messages_and_properties(estate_api: tuple[SandboxServer, Api]) -> None:
    srv, api = estate_api
    certs = {r["sys_id"] for r in _rows(api, "sys_certificate")}
    profiles = {r["protocol"]: r for r in _rows(api, "sys_protocol_profile")}
    assert _ref(profiles["mauthreports"]["keystore"]) not in certs  # its keystore is gone
    soap = _rows(api, "sys_soap_message", "name=Ledger SOAP")[0]
    assert soap[srv.facts.soap_mutual_auth_column] == "true"
    assert _ref(soap[srv.facts.soap_profile_column]) == profiles["mauthledger"]["sys_id"]
    billing = _rows(api, "sys_rest_message", "name=Billing API")[0]
    assert billing["use_mutual_auth"] == "true"
    methods = _rows(api, "sys_rest_message_fn", f"rest_message={billing['sys_id']}")
    assert {m["use_mutual_auth"] for m in methods} == {"true"}
    assert _rows(api, "sys_properties", f"name={LEGACY_PROPERTY}")
