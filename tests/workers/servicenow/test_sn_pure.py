"""Pure pieces of the ServiceNow integration: no instance needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from workers.errors import (
    ConfigError,
    RateLimited,
    RequestInvalid,
    ServiceNowConflict,
    ServiceNowRejected,
    ServiceNowUnavailable,
)
from workers.servicenow import (
    BasicAuth,
    FactsCache,
    InstanceFacts,
    OAuthPassword,
    ServiceNowClient,
    TargetRef,
)
from workers.servicenow._profile import validate_protocol
from workers.servicenow._targets import mutual_columns
from workers.servicenow._translate import error_from_response, retry_after_seconds, scrub
from workers.servicenow._wire import encoded_query, matches, ordered
from workers.servicenow.facts import _require
from workers.servicenow.models import ConfigurationSnapshot

FACTS = InstanceFacts(
    keystore_type="key_store",
    trust_type="trust_store",
    pkcs12_type="pkcs12_key_store",
    format_pem="pem",
    format_der="der",
    password_internal_type="password2",
    soap_mutual_auth_column="use_mutual_auth",
    soap_profile_column="protocol_profile",
    soap_function_table="sys_soap_message_function",
    auth_inherit_value="inherit_from_parent",
    auth_oauth_value="oauth2",
    attachment_extensions=("jks", "pdf"),
)
KS, TR, PR, MSG, FN = ("a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32)
TARGET = TargetRef(
    kind="rest",
    table="sys_rest_message",
    sys_id=MSG,
    name="Payments API",
    endpoint="https://pay.example",
    method_table="sys_rest_message_fn",
    method_sys_ids=(FN,),
)


def _response(status: int, body: object = None, headers: dict[str, str] | None = None):
    resp = requests.Response()
    resp.status_code = status
    resp._content = json.dumps(body).encode() if body is not None else b""
    resp.headers.update(headers or {})
    return resp


# ---- error translation ----------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_carry_message_detail_and_hint(status: int) -> None:
    body = {"error": {"message": "No Record found", "detail": "ACL restricts"}, "status": "failure"}
    err = error_from_response(_response(status, body), "GET /api/now/v2/table/x")
    assert isinstance(err, ServiceNowRejected)
    assert (err.status_code, err.sn_message, err.sn_detail) == (
        status,
        "No Record found",
        "ACL restricts",
    )
    assert err.hint


def test_403_hint_names_the_admin_role_and_business_rules() -> None:
    err = error_from_response(_response(403, {"error": {"message": "m"}}), "x")
    assert "admin role" in err.hint and "business rule" in err.hint


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(status: int) -> None:
    err = error_from_response(_response(status, None), "x")
    assert isinstance(err, ServiceNowUnavailable) and err.status_code == status


def test_429_reads_retry_after_case_insensitively() -> None:
    err = error_from_response(_response(429, {}, {"retry-after": "7"}), "x")
    assert isinstance(err, RateLimited) and err.retry_after == 7.0


def test_retry_after_forms() -> None:
    now = 1_000_000.0
    assert retry_after_seconds({"RETRY-AFTER": "3"}, now) == 3.0
    assert retry_after_seconds({"X-RateLimit-Reset": str(now + 42)}, now) == 42.0
    when = datetime.fromtimestamp(now, UTC) + timedelta(seconds=90)
    assert retry_after_seconds({"Retry-After": format_datetime(when, usegmt=True)}, now) == 90.0
    assert retry_after_seconds({"Retry-After": "soon"}, now) == 1.0
    assert retry_after_seconds({}, now) == 1.0


def test_secrets_are_scrubbed_from_instance_texts() -> None:
    body = {"error": {"message": "bad value hunter2", "detail": "hunter2 refused"}}
    err = error_from_response(_response(400, body), "x", secrets=("hunter2",))
    assert "hunter2" not in str(err) + err.sn_detail + err.sn_message
    assert scrub("x" * 1000, ()).endswith("...")


def test_credentials_never_show_in_reprs() -> None:
    basic = BasicAuth(username="admin", password="s3cret-pw")
    oauth = OAuthPassword(
        client_id="c", client_secret="s3cret-cs", username="u", password="s3cret-pw"
    )
    client = ServiceNowClient("https://x.example", oauth)
    for shown in (repr(basic), str(basic), repr(oauth), repr(client)):
        assert "s3cret" not in shown


# ---- queries ----------------------------------------------------------------------------


def test_encoded_query_joins_conditions_and_refuses_separators() -> None:
    assert encoded_query({"name": "a b", "active": "true"}, "typeLIKEx") == (
        "name=a b^active=true^typeLIKEx"
    )
    with pytest.raises(RequestInvalid):
        encoded_query({"name": "a^ORname=b"}, "")
    with pytest.raises(RequestInvalid):
        encoded_query({"na me": "x"}, "")


def test_queries_get_a_stable_order_unless_they_have_one() -> None:
    assert ordered("") == "ORDERBYsys_id"
    assert ordered("name=x") == "name=x^ORDERBYsys_id"
    assert ordered("name=x^ORDERBYDESCsys_created_on") == "name=x^ORDERBYDESCsys_created_on"


def test_matches_is_exact_and_understands_display_all_and_booleans() -> None:
    assert matches({"name": "x", "active": "true"}, {"name": "x"})
    assert not matches({"name": "xy"}, {"name": "x"})
    assert not matches({"nmae": "x"}, {"name": "x"})  # the field is absent: no match
    assert matches(
        {"type": {"value": "key_store", "display_value": "Java Key Store"}}, {"type": "key_store"}
    )
    assert matches({"active": True}, {"active": "true"})


# ---- facts -------------------------------------------------------------------------------


def test_missing_choice_says_which_and_what_to_check() -> None:
    with pytest.raises(ConfigError) as caught:
        _require({"pem": "pem"}, "Java Key Store", "sys_certificate.type")
    assert "Java Key Store" in str(caught.value) and "Choice Lists" in caught.value.hint


def test_facts_helpers() -> None:
    assert FACTS.password_encrypted
    assert FACTS.keystore_types == {"key_store", "pkcs12_key_store"}
    assert FACTS.extension_allowed("client.JKS") and not FACTS.extension_allowed("client.p12")
    assert FACTS.model_copy(update={"attachment_extensions": ()}).extension_allowed("a.p12")


def test_facts_cache_discovers_once_per_ttl() -> None:
    now = [0.0]
    calls: list[str] = []

    def fake_discover(client: ServiceNowClient) -> InstanceFacts:
        calls.append(client.base_url)
        return FACTS

    cache = FactsCache(10.0, discover_fn=fake_discover, clock=lambda: now[0])
    a = ServiceNowClient("https://a.example/", BasicAuth(username="u", password="p"))
    b = ServiceNowClient("https://b.example", BasicAuth(username="u", password="p"))
    assert cache.get(a) is FACTS and cache.get(a) is FACTS and cache.get(b) is FACTS
    assert calls == ["https://a.example", "https://b.example"]
    now[0] = 11.0
    cache.get(a)
    cache.invalidate("https://b.example/")
    cache.get(b)
    assert calls.count("https://a.example") == 2 and calls.count("https://b.example") == 2


# ---- profile names, target columns ----------------------------------------------------


@pytest.mark.parametrize("name", ["Mauth", "m-auth", "", "https", "http", "m auth"])
def test_protocol_names_are_checked_before_any_call(name: str) -> None:
    with pytest.raises(RequestInvalid):
        validate_protocol(name, 443)


def test_port_range() -> None:
    validate_protocol("mauth", 1)
    with pytest.raises(RequestInvalid):
        validate_protocol("mauth", 70000)


def test_soap_columns_come_from_the_facts() -> None:
    soap = TARGET.model_copy(update={"kind": "soap", "table": "sys_soap_message"})
    assert mutual_columns(FACTS, soap, MSG) == ("use_mutual_auth", "protocol_profile")
    assert mutual_columns(FACTS, TARGET, FN) == ("use_mutual_auth", "protocol_name")
    bare = FACTS.model_copy(update={"soap_mutual_auth_column": None})
    with pytest.raises(ServiceNowConflict):
        mutual_columns(bare, soap, MSG)


# ---- check_configuration --------------------------------------------------------------


def _snapshot(**changes: object) -> ConfigurationSnapshot:
    base: dict[str, object] = {
        "keystore_sys_id": KS,
        "trust_sys_id": TR,
        "profile_sys_id": PR,
        "keystore": {"sys_id": KS, "active": "true", "type": "key_store"},
        "keystore_attachments": ({"sys_id": "f" * 32, "hash": "1" * 64},),
        "trust": {"sys_id": TR, "active": "true", "type": "trust_store"},
        "profile": {"sys_id": PR, "protocol": "mauth", "keystore": KS},
        "target": TARGET,
        "mutual_auth": {
            MSG: {"use_mutual_auth": "true", "protocol_name": PR},
            FN: {"use_mutual_auth": "true", "protocol_name": PR, "use_mid_server": ""},
        },
    }
    base.update(changes)
    return ConfigurationSnapshot.model_validate(base)


def _check(snapshot: ConfigurationSnapshot) -> list[str]:
    from workers.servicenow._verify import check_configuration

    return check_configuration(FACTS, snapshot, keystore_sha256="1" * 64, protocol="mauth")


def test_a_consistent_configuration_has_no_problems() -> None:
    assert _check(_snapshot()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"keystore": {"sys_id": KS, "active": "false", "type": "key_store"}}, "inactive"),
        ({"keystore": {"sys_id": KS, "active": "true", "type": "trust_store"}}, "has type"),
        ({"keystore": None}, "does not exist"),
        ({"keystore_attachments": ({"sys_id": "f" * 32, "hash": "2" * 64},)}, "no attachment"),
        ({"profile": {"sys_id": PR, "protocol": "mauth", "keystore": TR}}, "points at"),
        ({"mutual_auth": {MSG: {"use_mutual_auth": "false", "protocol_name": PR}}}, "does not use"),
        ({"load_errors": ("Unable to load certificate : x - y",)}, "cannot load"),
    ],
)
def test_each_inconsistency_is_named(changes: dict[str, object], expected: str) -> None:
    problems = _check(_snapshot(**changes))
    assert any(expected in p for p in problems), problems


def test_legacy_properties_are_warnings_not_problems() -> None:
    from workers.servicenow._verify import configuration_warnings

    snap = _snapshot(legacy_properties=("glide.httpclient.protocol.mauth.port",))
    assert _check(snap) == []
    assert "glide.httpclient.protocol.mauth.port" in configuration_warnings(snap)[0]


def test_a_der_trust_record_must_hold_the_certificate_as_an_attachment() -> None:
    from workers.servicenow._verify import check_configuration

    der_trust = {"sys_id": TR, "active": "true", "type": "trust_store", "format": "der"}
    held = ({"sys_id": "e" * 32, "hash": "3" * 64},)
    other = ({"sys_id": "e" * 32, "hash": "4" * 64},)

    def problems(attachments: tuple[dict[str, str], ...]) -> list[str]:
        snap = _snapshot(trust=der_trust, trust_attachments=attachments)
        return check_configuration(FACTS, snap, keystore_sha256="1" * 64, trust_sha256="3" * 64)

    assert problems(held) == []
    assert problems(other) == [f"trust record {TR} holds no certificate with SHA-256 {'3' * 64}"]
    assert problems(()) == problems(other)
