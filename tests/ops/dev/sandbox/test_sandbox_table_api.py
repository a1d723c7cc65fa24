"""Table API paths, envelopes, status codes and string-typed values (servicenow-api.md 5)."""

from __future__ import annotations

import json
import re
import socket

import pytest

from ops.dev.sandbox import SandboxServer

from .conftest import Api

SYS_ID = re.compile(r"^[0-9a-f]{32}$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def assert_envelope(body: dict[str, object]) -> None:
    assert body["status"] == "failure"
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"message", "detail"}
    assert isinstance(error["message"], str) and error["message"]


def test_post_answers_201_with_location_and_string_values(api: Api) -> None:
    response = api.post(
        "/api/now/table/sys_certificate",
        json={"name": "client", "type": "key_store", "active": False, "warn_in_days_to_expire": 30},
    )
    assert response.status_code == 201
    row = response.json()["result"]
    assert (
        response.headers["Location"]
        == f"{api.srv.url}/api/now/table/sys_certificate/{row['sys_id']}"
    )
    assert SYS_ID.match(row["sys_id"])
    assert row["active"] == "false"
    assert row["warn_in_days_to_expire"] == "30"
    assert row["expiration_notification"] == "false"  # missing boolean: its default
    assert row["short_description"] == ""  # missing string: empty
    assert STAMP.match(row["sys_created_on"]) and STAMP.match(row["sys_updated_on"])
    assert row["sys_created_by"] == row["sys_updated_by"] == api.srv.username
    assert row["sys_mod_count"] == "0"
    assert all(isinstance(v, str) for v in row.values())


def test_unknown_fields_are_ignored_and_sys_fields_are_not_writable(api: Api) -> None:
    row = api.insert("sys_certificate", {"name": "a", "no_such_field": "x", "sys_mod_count": 9})
    assert "no_such_field" not in row
    assert row["sys_mod_count"] == "0"


def test_post_without_body_echo_when_asked(api: Api) -> None:
    response = api.post(
        "/api/now/table/sys_certificate",
        json={"name": "quiet"},
        headers={"X-no-response-body": "true"},
    )
    assert response.status_code == 201
    assert response.content == b""
    assert "Location" in response.headers


def test_only_the_first_record_of_a_list_is_created(api: Api) -> None:
    response = api.post("/api/now/table/sys_certificate", json=[{"name": "one"}, {"name": "two"}])
    assert response.status_code == 201
    assert [r["name"] for r in api.rows("sys_certificate")] == ["one"]


def test_get_put_patch_delete_one_record(api: Api) -> None:
    sys_id = api.insert("sys_certificate", {"name": "x", "short_description": "a"})["sys_id"]
    path = f"/api/now/table/sys_certificate/{sys_id}"
    assert api.get(path).json()["result"]["short_description"] == "a"
    put = api.put(path, json={"short_description": "b"})
    assert put.status_code == 200
    assert put.json()["result"]["name"] == "x"  # PUT changes only the fields sent
    assert put.json()["result"]["sys_mod_count"] == "1"
    patch = api.patch(path, json={"short_description": "b"})
    assert patch.json()["result"]["sys_mod_count"] == "1"  # nothing changed, no update
    deleted = api.delete(path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = api.get(path)
    assert missing.status_code == 404
    assert_envelope(missing.json())
    assert api.delete(path).status_code == 404
    assert api.patch(path, json={"name": "y"}).status_code == 404


@pytest.mark.parametrize("prefix", ["/api/now/table", "/api/now/v1/table", "/api/now/v2/table"])
def test_versioned_paths_serve_the_same_records(api: Api, prefix: str) -> None:
    sys_id = api.insert("sys_certificate", {"name": "v"})["sys_id"]
    one = api.get(f"{prefix}/sys_certificate/{sys_id}")
    assert one.status_code == 200
    listing = api.get(f"{prefix}/sys_certificate", params={"sysparm_query": "name=v"})
    assert [r["sys_id"] for r in listing.json()["result"]] == [sys_id]


def test_empty_collection_is_404_in_v1_and_empty_list_otherwise(api: Api) -> None:
    params = {"sysparm_query": "name=nothing"}
    v1 = api.get("/api/now/v1/table/sys_certificate", params=params)
    assert v1.status_code == 404
    assert_envelope(v1.json())
    for prefix in ("/api/now/v2/table", "/api/now/table"):
        response = api.get(f"{prefix}/sys_certificate", params=params)
        assert response.status_code == 200
        assert response.json() == {"result": []}


def test_method_override_header_is_honoured(api: Api) -> None:
    sys_id = api.insert("sys_certificate", {"name": "o"})["sys_id"]
    response = api.post(
        f"/api/now/table/sys_certificate/{sys_id}",
        json={"short_description": "via override"},
        headers={"X-http-method-override": "PATCH"},
    )
    assert response.status_code == 200
    assert response.json()["result"]["short_description"] == "via override"


def test_header_rules(api: Api) -> None:
    url = "/api/now/table/sys_certificate"
    no_accept = api.session.get(api.srv.url + url, headers={"Accept": None}, timeout=5)
    assert no_accept.status_code == 400
    xml_only = api.get(url, headers={"Accept": "application/xml"})
    assert xml_only.status_code == 406
    assert_envelope(xml_only.json())
    no_type = api.post(url, data=b'{"name": "x"}')
    assert no_type.status_code == 400
    wrong_type = api.post(url, data=b"name=x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert_envelope(wrong_type.json())
    bad_json = api.post(url, data=b"{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert api.get(url, headers={"Accept": "application/json;q=0, text/html"}).status_code == 406
    assert api.get(url, headers={"Accept": "*/*"}).status_code == 200


def test_unsupported_method_invalid_table_and_unknown_uri(api: Api) -> None:
    assert api.delete("/api/now/table/sys_certificate").status_code == 405
    assert api.post("/api/now/table/sys_certificate/0123", json={}).status_code == 405
    invalid = api.get("/api/now/table/no_such_table")
    assert invalid.status_code == 400
    assert invalid.json()["error"]["message"] == "Invalid table no_such_table"
    assert api.get("/api/now/nothing/here").status_code == 400


def test_head_answers_headers_only(api: Api) -> None:
    response = api.call("HEAD", "/api/now/table/sys_rest_message")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["X-Total-Count"] == "1"


def test_sending_empty_does_not_clear_a_choice_field(api: Api) -> None:
    row = api.insert(
        "sys_certificate", {"name": "c", "type": "trust_store", "short_description": "s"}
    )
    path = f"/api/now/table/sys_certificate/{row['sys_id']}"
    after = api.patch(path, json={"type": "", "short_description": ""}).json()["result"]
    assert after["type"] == "trust_store"
    assert after["short_description"] == ""


def test_seeded_rest_message_with_three_methods(api: Api) -> None:
    message = api.rows("sys_rest_message", "name=Payments API")[0]
    assert message["rest_endpoint"] == "https://localhost:8443/api"
    assert message["authentication_type"] == "basic"
    assert (message["use_basic_auth"], message["use_mutual_auth"]) == ("true", "false")
    assert message["protocol_name"] == ""
    methods = api.rows(
        "sys_rest_message_fn",
        f"rest_message={message['sys_id']}^ORDERBYfunction_name",
        sysparm_exclude_reference_link="true",
    )
    assert [m["function_name"] for m in methods] == ["delete", "get", "post"]
    assert {m["authentication_type"] for m in methods} == {"inherit_from_parent"}
    assert {m["rest_message"] for m in methods} == {message["sys_id"]}
    assert api.rows("sys_soap_message", "name=Ledger SOAP")
    soap_id = api.rows("sys_soap_message", "name=Ledger SOAP")[0]["sys_id"]
    assert len(api.rows("sys_soap_message_function", f"soap_message={soap_id}")) == 1


def test_seed_endpoint_is_configurable() -> None:
    with SandboxServer(seed_endpoint="https://pay.example.test/v2") as srv:
        rows = srv.dump()["sys_rest_message"]
        assert rows[0]["rest_endpoint"] == "https://pay.example.test/v2"


def test_keep_alive_serves_several_requests_on_one_connection(srv: SandboxServer) -> None:
    host, port = srv.url.removeprefix("http://").split(":")
    import base64

    token = base64.b64encode(f"{srv.username}:{srv.password}".encode()).decode()
    request = (
        "GET /api/now/table/sys_rest_message HTTP/1.1\r\n"
        f"Host: {host}\r\nAuthorization: Basic {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        stream = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(request)
            assert stream.readline().startswith(b"HTTP/1.1 200")
            headers = {}
            while (line := stream.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            body = json.loads(stream.read(int(headers["content-length"])))
            assert body["result"][0]["name"] == "Payments API"


def test_dump_is_a_deep_copy(srv: SandboxServer) -> None:
    dump = srv.dump()
    dump["sys_rest_message"][0]["name"] = "changed"
    assert srv.dump()["sys_rest_message"][0]["name"] == "Payments API"
    assert set(dump) >= {"sys_certificate", "sys_attachment", "sys_choice", "syslog"}


def test_concurrent_inserts_keep_names_unique(srv: SandboxServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def insert(_: int) -> int:
        client = Api(srv, srv.username, srv.password)
        try:
            return client.post("/api/now/table/sys_certificate", json={"name": "race"}).status_code
        finally:
            client.session.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(insert, range(8)))
    assert statuses == [201] + [403] * 7
    assert [r["name"] for r in srv.dump()["sys_certificate"]] == ["race"]
