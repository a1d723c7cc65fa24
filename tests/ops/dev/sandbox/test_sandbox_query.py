"""Encoded queries, fields, pagination, references and display values (5.2, 5.7)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ops.dev.sandbox import SandboxServer

from .conftest import Api


@pytest.fixture
def certs(api: Api) -> dict[str, str]:
    """Five certificates; name -> sys_id."""
    rows: list[dict[str, Any]] = [
        {"name": "alpha", "type": "trust_store", "short_description": "first", "active": True},
        {"name": "beta", "type": "key_store", "short_description": "", "active": False},
        {"name": "gamma", "type": "trust_store", "short_description": "third", "active": True},
        {"name": "delta", "type": "key_store", "short_description": "fourth", "active": False},
        {"name": "alphabet", "type": "trust_store", "short_description": "", "active": True},
    ]
    return {r["name"]: api.insert("sys_certificate", r)["sys_id"] for r in rows}


def names(api: Api, query: str) -> list[str]:
    return [r["name"] for r in api.rows("sys_certificate", query, sysparm_fields="name")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=alpha", ["alpha"]),
        ("name!=alpha", ["beta", "gamma", "delta", "alphabet"]),
        ("nameLIKEalp", ["alpha", "alphabet"]),
        ("nameNOTLIKEalp", ["beta", "gamma", "delta"]),
        ("nameSTARTSWITHal", ["alpha", "alphabet"]),
        ("nameENDSWITHa", ["alpha", "beta", "gamma", "delta"]),
        ("nameINbeta,delta,nobody", ["beta", "delta"]),
        ("short_descriptionISEMPTY", ["beta", "alphabet"]),
        ("short_descriptionISNOTEMPTY", ["alpha", "gamma", "delta"]),
        ("type=trust_store^active=true^nameSTARTSWITHg", ["gamma"]),
        ("name=beta^ORname=delta", ["beta", "delta"]),
        ("type=key_store^name=beta^ORname=alpha", ["beta"]),
        ("name=alpha^NQname=gamma", ["alpha", "gamma"]),
        ("type=trust_store^ORDERBYname", ["alpha", "alphabet", "gamma"]),
        ("type=trust_store^ORDERBYDESCname", ["gamma", "alphabet", "alpha"]),
        ("Name=alpha", ["alpha", "beta", "gamma", "delta", "alphabet"]),  # names are case-sensitive
        ("name=Alpha", []),  # values are case-sensitive
    ],
)
def test_operators(api: Api, certs: dict[str, str], query: str, expected: list[str]) -> None:
    assert names(api, query) == expected


def test_invalid_field_is_silently_ignored_so_more_rows_match(
    api: Api, certs: dict[str, str]
) -> None:
    # The pitfall of 5.2: a misspelled field drops the condition instead of failing.
    assert names(api, "nmae=alpha") == ["alpha", "beta", "gamma", "delta", "alphabet"]
    assert names(api, "nmae=alpha^type=key_store") == ["beta", "delta"]
    assert names(api, "name=alpha^ORDERBYnosuchfield") == ["alpha"]


def test_property_makes_invalid_queries_return_no_rows(
    api: Api, srv: SandboxServer, certs: dict[str, str]
) -> None:
    srv.set_property("glide.invalid_query.returns_no_rows", "true")
    assert names(api, "nmae=alpha") == []
    assert names(api, "name=alpha") == ["alpha"]


def test_dot_walking_through_references(api: Api) -> None:
    methods = api.rows("sys_rest_message_fn", "rest_message.name=Payments API")
    assert len(methods) == 3
    fields = api.rows(
        "sys_rest_message_fn", "function_name=get", sysparm_fields="function_name,rest_message.name"
    )
    assert fields == [{"function_name": "get", "rest_message.name": "Payments API"}]


def test_fields_limit_the_answer_and_unknown_names_are_ignored(
    api: Api, certs: dict[str, str]
) -> None:
    rows = api.rows("sys_certificate", "name=alpha", sysparm_fields="name, sys_id,bogus")
    assert rows == [{"name": "alpha", "sys_id": certs["alpha"]}]


def _links(header: str) -> dict[str, dict[str, str]]:
    out = {}
    for url, rel in re.findall(r'<([^>]+)>;rel="(\w+)"', header):
        params = dict(re.findall(r"(sysparm_\w+)=([^&]*)", url))
        out[rel] = params
    return out


def test_pagination_headers(api: Api, certs: dict[str, str]) -> None:
    params = {"sysparm_query": "ORDERBYname", "sysparm_limit": "2", "sysparm_offset": "2"}
    response = api.get("/api/now/table/sys_certificate", params=params)
    assert response.headers["X-Total-Count"] == "5"
    assert [r["name"] for r in response.json()["result"]] == ["beta", "delta"]
    links = _links(response.headers["Link"])
    assert list(links) == ["first", "prev", "next", "last"]
    assert {rel: p["sysparm_offset"] for rel, p in links.items()} == {
        "first": "0",
        "prev": "0",
        "next": "4",
        "last": "4",
    }
    assert all(p["sysparm_limit"] == "2" for p in links.values())
    assert links["next"]["sysparm_query"] == "ORDERBYname"


def test_paging_through_everything_with_offset(api: Api, certs: dict[str, str]) -> None:
    seen: list[str] = []
    offset, total = 0, None
    while total is None or offset < total:
        params: dict[str, Any] = {"sysparm_limit": 2, "sysparm_offset": offset}
        response = api.get("/api/now/table/sys_certificate", params=params)
        total = int(response.headers["X-Total-Count"])
        seen += [r["name"] for r in response.json()["result"]]
        offset += 2
    assert sorted(seen) == sorted(certs)


def test_no_count_and_suppressed_pagination_header(api: Api, certs: dict[str, str]) -> None:
    params = {"sysparm_no_count": "true", "sysparm_suppress_pagination_header": "true"}
    response = api.get("/api/now/table/sys_certificate", params=params)
    assert "X-Total-Count" not in response.headers
    assert "Link" not in response.headers


def _profile(api: Api, keystore: str) -> dict[str, Any]:
    return api.insert(
        "sys_protocol_profile", {"protocol": "mauth", "default_port": 443, "keystore": keystore}
    )


def test_reference_link_shape_and_exclusion(api: Api, certs: dict[str, str]) -> None:
    profile = _profile(api, certs["beta"])
    assert profile["keystore"] == {
        "link": f"{api.srv.url}/api/now/table/sys_certificate/{certs['beta']}",
        "value": certs["beta"],
    }
    plain = api.rows("sys_protocol_profile", "", sysparm_exclude_reference_link="true")
    assert plain[0]["keystore"] == certs["beta"]
    message = api.rows("sys_rest_message", "name=Payments API")[0]
    assert message["protocol_name"] == ""  # an empty reference is a plain empty string


def test_display_values(api: Api, certs: dict[str, str]) -> None:
    profile_id = _profile(api, certs["beta"])["sys_id"]
    path = f"/api/now/table/sys_protocol_profile/{profile_id}"
    shown = api.get(path, params={"sysparm_display_value": "true"}).json()["result"]
    assert shown["keystore"] == {
        "display_value": "beta",
        "link": f"{api.srv.url}/api/now/table/sys_certificate/{certs['beta']}",
    }
    both = api.get(
        path, params={"sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"}
    ).json()["result"]
    assert both["keystore"] == {"display_value": "beta", "value": certs["beta"]}
    assert both["protocol"] == {"display_value": "mauth", "value": "mauth"}
    cert = api.get(
        f"/api/now/table/sys_certificate/{certs['beta']}", params={"sysparm_display_value": "true"}
    ).json()["result"]
    assert cert["type"] == "Java Key Store"
    assert cert["active"] == "false"
    method = api.rows(
        "sys_rest_message_fn",
        "function_name=get",
        sysparm_display_value="true",
        sysparm_exclude_reference_link="true",
    )[0]
    assert method["rest_message"] == "Payments API"
    assert method["authentication_type"] == "Inherit from parent"


def test_input_display_value_takes_labels_and_display_names(api: Api) -> None:
    keystore = api.insert(
        "sys_certificate",
        {"name": "ks", "type": "Java Key Store", "format": "PEM", "active": "false"},
        sysparm_input_display_value="true",
    )
    assert keystore["type"] == "key_store"
    assert keystore["format"] == "pem"
    profile = api.insert(
        "sys_protocol_profile",
        {"protocol": "mauth", "keystore": "ks"},
        sysparm_input_display_value="true",
        sysparm_exclude_reference_link="true",
    )
    assert profile["keystore"] == keystore["sys_id"]
    # Without the parameter, a label is stored as it is written.
    raw = api.insert("sys_certificate", {"name": "raw", "type": "Java Key Store"})
    assert raw["type"] == "Java Key Store"
