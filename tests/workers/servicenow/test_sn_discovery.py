"""Discovery reads what the instance stores; other answers need no code change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops.dev.sandbox import SandboxFacts, SandboxServer
from workers.errors import ConfigError
from workers.servicenow import BasicAuth, Instance, InstanceFacts, ServiceNowClient, discover


def test_default_sandbox_facts(facts: InstanceFacts) -> None:
    assert (facts.keystore_type, facts.trust_type, facts.pkcs12_type) == (
        "key_store",
        "trust_store",
        "pkcs12_key_store",
    )
    assert (facts.format_pem, facts.format_der) == ("pem", "der")
    assert facts.password_internal_type == "password2" and facts.password_encrypted
    assert (facts.soap_mutual_auth_column, facts.soap_profile_column) == (
        "enable_mutual_auth",
        "protocol_profile",
    )
    assert facts.soap_function_table == "sys_soap_message_function"
    assert facts.soap_function_columns == ("enable_mutual_auth", "protocol_profile")
    assert (facts.auth_inherit_value, facts.auth_oauth_value) == ("inherit_from_parent", "oauth2")
    assert facts.legacy_protocol_properties == () and facts.attachment_extensions == ()


OTHER = SandboxFacts(
    keystore_type=("jks", "Java Key Store"),
    trust_store_type=("trust_store_cert", "Trust Store Cert"),
    offer_pkcs12=False,
    pem_format=("pem_format", "PEM"),
    der_format=("der_format", "DER"),
    key_store_password_type="password",
    auth_inherit=("inherit", "Inherit from parent"),
    auth_oauth2=("oauth_2_0", "OAuth 2.0"),
    soap_mutual_auth_column="mutual_auth_enabled",
    soap_profile_column="protocol_name",
    soap_function_table="sys_soap_message_fn",
    soap_function_mutual_auth=True,
    dictionary_types_are_references=False,
)


@pytest.fixture
def other() -> Iterator[SandboxServer]:
    srv = SandboxServer(OTHER).start(host="127.0.0.1", port=0)
    try:
        yield srv
    finally:
        srv.stop()


def _client(srv: SandboxServer) -> ServiceNowClient:
    auth = BasicAuth(username=srv.username, password=srv.password)
    return ServiceNowClient(srv.url, auth, timeout=(1.0, 2.0), backoff=0.01)


def test_other_answers_are_discovered(other: SandboxServer) -> None:
    with _client(other) as client:
        facts = discover(client)
    assert (facts.keystore_type, facts.trust_type, facts.pkcs12_type) == (
        "jks",
        "trust_store_cert",
        None,
    )
    assert (facts.format_pem, facts.format_der) == ("pem_format", "der_format")
    assert facts.password_internal_type == "password" and not facts.password_encrypted
    assert (facts.soap_mutual_auth_column, facts.soap_profile_column) == (
        "mutual_auth_enabled",
        "protocol_name",
    )
    assert facts.soap_function_table == "sys_soap_message_fn"
    assert facts.soap_function_parent_column == "soap_message"
    assert facts.soap_function_columns == ("mutual_auth_enabled", "protocol_name")
    assert (facts.auth_inherit_value, facts.auth_oauth_value) == ("inherit", "oauth_2_0")


def test_soap_functions_are_enabled_where_the_instance_has_the_columns(
    other: SandboxServer,
) -> None:
    with _client(other) as client:
        instance = Instance(client, discover(client))
        target = instance.find_target("soap", "Ledger SOAP")
        assert target is not None and target.method_table == "sys_soap_message_fn"
        assert len(target.method_sys_ids) == 1
        profile = client.create("sys_protocol_profile", {"protocol": "mauthledger"})
        instance.enable_mutual_auth(target, profile["sys_id"])
        state = instance.read_mutual_auth(target)
    assert {row["mutual_auth_enabled"] for row in state.values()} == {"true"}
    assert {row["protocol_name"] for row in state.values()} == {profile["sys_id"]}


def test_properties_are_read(sandbox: SandboxServer, client: ServiceNowClient) -> None:
    sandbox.set_property("glide.attachment.extensions", "pdf, .JKS ,p12")
    sandbox.set_property("glide.httpclient.protocol.mauth.port", "8443")
    sandbox.set_property("glide.httpclient.protocol.mauth.class", "x")
    facts = discover(client)
    assert facts.attachment_extensions == ("pdf", "jks", "p12")
    assert facts.legacy_protocol_properties == (
        "glide.httpclient.protocol.mauth.class",
        "glide.httpclient.protocol.mauth.port",
    )


def test_a_missing_choice_says_which(sandbox: SandboxServer, client: ServiceNowClient) -> None:
    trust = client.query(
        "sys_choice", {"name": "sys_certificate", "element": "type", "label": "Trust Store Cert"}
    )[0]
    client.update("sys_choice", trust["sys_id"], {"inactive": "true"})
    with pytest.raises(ConfigError) as caught:
        discover(client)
    assert "'Trust Store Cert' choice for sys_certificate.type" in str(caught.value)
