"""The whole pipeline against an instance that answers every uncertain fact differently.

servicenow-api.md leaves choice values, SOAP column names, the password column's type
and more open; the client discovers them from sys_choice and sys_dictionary. Here the
sandbox answers otherwise than its defaults, and the same code must do the same job.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from messages import JobState, KeyType, Stage
from ops.dev.sandbox import SandboxFacts
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.e2e.conftest import UPDATE_STAMPS, dump_changes, local_ca, wait_all
from workers import pki
from workers.levers.rollback import rollback

OTHER = SandboxFacts(
    keystore_type=("jks", "Java Key Store"),
    trust_store_type=("trust_store_cert", "Trust Store Cert"),
    offer_pkcs12=False,
    offer_bcfks=False,
    pem_format=("pem_format", "PEM"),
    der_format=("der_format", "DER"),
    key_store_password_type="password",
    certificate_active_default="false",
    derive_fields_from_keystore=False,
    auth_no_authentication=("none", "No authentication"),
    auth_basic=("basic_auth", "Basic"),
    auth_inherit=("inherit", "Inherit from parent"),
    auth_oauth2=("oauth_2_0", "OAuth 2.0"),
    soap_mutual_auth_column="mutual_auth_enabled",
    soap_profile_column="protocol_name",
    soap_function_table="sys_soap_message_fn",
    soap_function_mutual_auth=True,
    attachment_api_includes_hash=False,  # the documented shape: sys_attachment is read
    attachment_upload_state="available",
    enforce_protocol_rules=True,
    dictionary_types_are_references=False,
)
DEFAULTS = {"key_store", "trust_store", "pem", "der", "pkcs12_key_store"}


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub", sandbox_facts=OTHER)) as running:
        yield running


def test_rest_with_pem_and_soap_with_der_succeed_with_no_code_change(stack: RunningStack) -> None:
    partner = ThirdPartyServer([local_ca(stack).root_pem]).start()
    try:
        stack.sandbox.add_soap_message("Partner SOAP", partner.url)
        before = stack.sandbox.dump()
        rest, soap = run_both(stack, partner)
        # enable's proof before the switch, then verify's handshake, each with our certificate
        assert stack.third_party.requests_served == 2 and partner.requests_served == 2
        check_records(stack, soap)
        # rollback restores the discovered SOAP columns too and leaves the instance as before
        for job_id in (soap, rest):
            report = rollback(stack.app, job_id, actor="test", reason="alternative facts")
            assert report.state is JobState.CANCELLED
        for table, change in dump_changes(before, stack.sandbox.dump()).items():
            assert change["added"] == change["removed"] == [], table
            for columns in change["changed"].values():
                assert set(columns) <= UPDATE_STAMPS, (table, columns)
    finally:
        partner.stop()


def run_both(stack: RunningStack, partner: ThirdPartyServer) -> tuple[str, str]:
    der = pki.cert_to_der(pki.parse_certificates(partner.server_certificate_pem)[0])
    rest, _ = stack.app.submit(stack.example_job(KeyType.EC256))
    soap, _ = stack.app.submit(
        stack.example_job(
            KeyType.RSA2048,
            target={"kind": "soap", "name": "Partner SOAP"},
            keystore={"record_name": "twoway partner client", "alias": "partner"},
            server_certificate={"der_b64": base64.b64encode(der).decode()},
            protocol_profile={"name": "mauthpartner", "port": partner.port},
        )
    )
    states = wait_all(stack, [rest.id, soap.id], timeout=60)
    for job_id, state in states.items():
        assert state is JobState.SUCCEEDED, stack.app.store.get_job(job_id).error
    return rest.id, soap.id


def check_records(stack: RunningStack, soap: str) -> None:
    """The instance's own values everywhere; none of the sandbox's defaults."""
    dump = stack.sandbox.dump()
    certificates = dump["sys_certificate"]
    kinds = sorted((c["type"], c["format"], c["active"]) for c in certificates)
    assert kinds == [
        ("jks", "", "true"),
        ("jks", "", "true"),
        ("trust_store_cert", "der_format", "true"),
        ("trust_store_cert", "pem_format", "true"),
    ]
    assert not DEFAULTS & {value for c in certificates for value in c.values()}
    [der_record] = [c for c in certificates if c["format"] == "der_format"]
    assert [a["table_sys_id"] for a in dump["sys_attachment"]].count(der_record["sys_id"]) == 1
    [profile] = [p for p in dump["sys_protocol_profile"] if p["protocol"] == "mauthpartner"]
    [message] = [m for m in dump["sys_soap_message"] if m["name"] == "Partner SOAP"]
    functions = [f for f in dump["sys_soap_message_fn"] if f["soap_message"] == message["sys_id"]]
    assert len(functions) == 1
    for row in (message, *functions):
        assert (row["mutual_auth_enabled"], row["protocol_name"]) == ("true", profile["sys_id"])
    methods = stack.app.store.progress.get_output(soap, Stage.ENABLE)
    assert methods is not None and functions[0]["sys_id"] in methods.message
