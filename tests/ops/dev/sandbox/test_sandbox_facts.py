"""Every LIKELY/UNCERTAIN answer comes from SandboxFacts and shows up in the metadata a
client discovers at runtime (servicenow-api.md 8)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops.dev.sandbox import SandboxFacts, SandboxServer

from .conftest import Api


def choices(api: Api, table: str, element: str) -> list[tuple[str, str]]:
    rows = api.rows(
        "sys_choice",
        f"name={table}^element={element}^inactive=false^language=en^ORDERBYsequence",
        sysparm_fields="value,label,language",
    )
    return [(r["value"], r["label"]) for r in rows]


def dictionary(api: Api, table: str, query: str = "") -> dict[str, dict[str, str]]:
    rows = api.rows(
        "sys_dictionary",
        f"name={table}{query}",
        sysparm_fields="element,internal_type,reference,max_length",
        sysparm_exclude_reference_link="true",
    )
    return {r["element"]: r for r in rows}


def test_default_facts_in_sys_choice(api: Api) -> None:
    assert choices(api, "sys_certificate", "type") == [
        ("trust_store", "Trust Store Cert"),
        ("key_store", "Java Key Store"),
        ("pkcs12_key_store", "PKCS12 Key Store"),
        ("bcfks_key_store", "BCFKS keystore"),  # Yokohama on (servicenow-api.md 10)
    ]
    assert choices(api, "sys_certificate", "format") == [("pem", "PEM"), ("der", "DER")]
    assert choices(api, "sys_rest_message_fn", "authentication_type") == [
        ("inherit_from_parent", "Inherit from parent"),
        ("no_authentication", "No authentication"),
        ("basic", "Basic"),
        ("oauth2", "OAuth 2.0"),
    ]
    assert ("inherit_from_parent", "Inherit from parent") not in choices(
        api, "sys_rest_message", "authentication_type"
    )


def test_default_facts_in_sys_dictionary(api: Api) -> None:
    certs = dictionary(api, "sys_certificate", "^element=key_store_password")
    assert certs["key_store_password"]["internal_type"] == "password2"
    soap = dictionary(api, "sys_soap_message", "^elementLIKEmutual^ORelementLIKEprotocol")
    # servicenow-api.md 4.4: the columns ServiceNow's own SOAP script includes read
    assert set(soap) == {"enable_mutual_auth", "protocol_profile"}
    assert soap["protocol_profile"]["internal_type"] == "reference"
    assert soap["protocol_profile"]["reference"] == "sys_protocol_profile"
    functions = dictionary(api, "sys_soap_message_function")
    assert "soap_message" in functions
    carried = {"enable_mutual_auth", "protocol_profile", "use_basic_auth", "use_mid_server"}
    assert carried <= set(functions)
    rest = dictionary(api, "sys_rest_message")
    assert rest["protocol_name"]["reference"] == "sys_protocol_profile"
    assert rest["use_mutual_auth"]["internal_type"] == "boolean"
    assert dictionary(api, "sys_protocol_profile")["keystore"]["reference"] == "sys_certificate"


def test_every_column_has_a_dictionary_row(api: Api, srv: SandboxServer) -> None:
    rows = srv.dump()["sys_dictionary"]
    for table, spec in srv.store.schema.items():
        elements = {r["element"] for r in rows if r["name"] == table}
        assert elements == {"", *spec.columns}, table


def test_dictionary_types_come_back_as_name_keyed_references(api: Api) -> None:
    row = api.rows(
        "sys_dictionary",
        "name=sys_certificate^element=key_store_password",
        sysparm_fields="internal_type",
    )[0]
    assert row["internal_type"] == {
        "link": f"{api.srv.url}/api/now/table/sys_glide_object/name=password2",
        "value": "password2",
    }
    shown = api.rows(
        "sys_dictionary",
        "name=sys_certificate^element=key_store_password",
        sysparm_fields="internal_type",
        sysparm_display_value="all",
        sysparm_exclude_reference_link="true",
    )[0]
    assert shown["internal_type"] == {"display_value": "password2", "value": "password2"}


def test_default_properties(api: Api) -> None:
    rows = api.rows("sys_properties", "nameSTARTSWITHglide.", sysparm_fields="name,value")
    assert {r["name"]: r["value"] for r in rows} == {
        "glide.attachment.extensions": "",
        "glide.invalid_query.returns_no_rows": "false",
        "glide.security.file.mime_type.validation": "true",  # the platform's default
        "glide.attachment.role": "",
    }


def test_legacy_protocol_properties_can_be_seeded(api: Api, srv: SandboxServer) -> None:
    srv.set_property("glide.httpclient.protocol.mauth.port", "8443")
    rows = api.rows("sys_properties", "nameSTARTSWITHglide.httpclient.protocol.")
    assert [(r["name"], r["value"]) for r in rows] == [
        ("glide.httpclient.protocol.mauth.port", "8443")
    ]


ALTERNATIVE = SandboxFacts(
    trust_store_type=("trust_store_cert", "Trust Store Cert"),
    offer_pkcs12=False,
    offer_bcfks=False,
    key_store_password_type="password",
    soap_mutual_auth_column="mutual_auth",
    soap_profile_column="protocol_name",
    soap_function_table="sys_soap_function",
    soap_function_mutual_auth=True,
    auth_inherit=("inherit", "Inherit from parent"),
)


@pytest.fixture
def alt() -> Iterator[Api]:
    with SandboxServer(ALTERNATIVE) as srv:
        yield Api(srv, srv.username, srv.password)


def test_alternative_facts_change_choices_and_dictionary(alt: Api) -> None:
    assert choices(alt, "sys_certificate", "type") == [
        ("trust_store_cert", "Trust Store Cert"),
        ("key_store", "Java Key Store"),
    ]
    assert alt.rows("sys_choice", "value=pkcs12_key_store") == []
    password = dictionary(alt, "sys_certificate", "^element=key_store_password")
    assert password["key_store_password"]["internal_type"] == "password"
    soap = dictionary(alt, "sys_soap_message", "^elementLIKEmutual^ORelementLIKEprotocol")
    assert set(soap) == {"mutual_auth", "protocol_name"}
    functions = dictionary(alt, "sys_soap_function", "^elementLIKEmutual^ORelementLIKEprotocol")
    assert set(functions) == {"mutual_auth", "protocol_name"}
    assert alt.get("/api/now/table/sys_soap_message_function").status_code == 400
    methods = alt.rows("sys_rest_message_fn", "", sysparm_fields="authentication_type")
    assert {m["authentication_type"] for m in methods} == {"inherit"}


def test_alternative_soap_columns_are_writable(alt: Api) -> None:
    soap = alt.rows("sys_soap_message", "name=Ledger SOAP")[0]
    assert soap["mutual_auth"] == "false"
    path = f"/api/now/table/sys_soap_message/{soap['sys_id']}"
    profile = alt.insert("sys_protocol_profile", {"protocol": "mauth"})["sys_id"]
    updated = alt.patch(
        path,
        json={"mutual_auth": True, "protocol_name": profile},
        params={"sysparm_exclude_reference_link": "true"},
    ).json()["result"]
    assert (updated["mutual_auth"], updated["protocol_name"]) == ("true", profile)
    assert "use_mutual_auth" not in updated


def test_trust_store_label_maps_to_the_stored_value_of_the_facts(alt: Api) -> None:
    row = alt.insert(
        "sys_certificate",
        {"name": "t", "type": "Trust Store Cert"},
        sysparm_input_display_value="true",
    )
    assert row["type"] == "trust_store_cert"


@pytest.mark.parametrize(
    ("protocol", "fragment"),
    [
        ("Mauth", "upper case"),
        ("m-auth", "special characters"),
        ("https", "existing protocol"),
        ("mauth", "already exists"),
    ],
)
def test_protocol_rules_when_enforced(protocol: str, fragment: str) -> None:
    with SandboxServer(SandboxFacts(enforce_protocol_rules=True)) as srv:
        api = Api(srv, srv.username, srv.password)
        api.insert("sys_protocol_profile", {"protocol": "mauth"})
        response = api.post("/api/now/table/sys_protocol_profile", json={"protocol": protocol})
        assert response.status_code == 403
        assert response.json()["error"]["message"] == "Operation Failed"
        assert fragment in response.json()["error"]["detail"]


def test_protocol_rules_not_enforced_by_default(api: Api) -> None:
    for protocol in ("Mauth", "https", "https"):
        response = api.post("/api/now/table/sys_protocol_profile", json={"protocol": protocol})
        assert response.status_code == 201
