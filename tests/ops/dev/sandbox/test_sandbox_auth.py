"""Authentication (Basic, OAuth bearer) and ACLs (servicenow-api.md 5.4, 5.5, 6.10)."""

from __future__ import annotations

import requests

from ops.dev.sandbox import SandboxFacts, SandboxServer

from .conftest import Api

URL = "/api/now/table/sys_rest_message"


def test_missing_or_bad_credentials_answer_401(srv: SandboxServer) -> None:
    headers = {"Accept": "application/json"}
    anonymous = requests.get(srv.url + URL, headers=headers, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "error": {
            "message": "User Not Authenticated",
            "detail": "Required to provide Auth information",
        },
        "status": "failure",
    }
    wrong = requests.get(srv.url + URL, headers=headers, auth=(srv.username, "nope"), timeout=5)
    assert wrong.status_code == 401
    assert "nope" not in wrong.text and srv.password not in wrong.text


def test_passwords_are_random_per_server() -> None:
    with SandboxServer() as one, SandboxServer() as two:
        assert one.password != two.password
        assert one.username != one.readonly_username


def _token(srv: SandboxServer, **form: str) -> requests.Response:
    body = {
        "grant_type": "password",
        "client_id": srv.oauth_client_id,
        "client_secret": srv.oauth_client_secret,
        "username": srv.username,
        "password": srv.password,
    }
    body.update(form)
    return requests.post(srv.url + "/oauth_token.do", data=body, timeout=5)


def test_oauth_password_grant_and_bearer_calls(srv: SandboxServer) -> None:
    response = _token(srv)
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 1799
    assert token["access_token"] and token["refresh_token"]
    headers = {"Accept": "application/json", "Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(srv.url + URL, headers=headers, timeout=5).status_code == 200
    headers["Authorization"] = "Bearer not-a-token"
    assert requests.get(srv.url + URL, headers=headers, timeout=5).status_code == 401
    refreshed = _token(srv, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != token["access_token"]


def test_oauth_refuses_bad_client_or_user(srv: SandboxServer) -> None:
    assert _token(srv, client_secret="wrong").status_code == 401
    assert _token(srv, password="wrong").status_code == 401
    assert _token(srv, grant_type="client_credentials").status_code == 400


def test_readonly_user_is_refused_on_admin_tables(readonly: Api) -> None:
    for table in ("sys_certificate", "sys_protocol_profile", "sys_rest_message",
                  "sys_rest_message_fn", "sys_soap_message", "sys_dictionary"):  # fmt: skip
        response = readonly.get(f"/api/now/table/{table}")
        assert response.status_code == 403, table
        assert response.json()["status"] == "failure"
    insert = readonly.post("/api/now/table/sys_certificate", json={"name": "x"})
    assert insert.status_code == 403
    assert insert.json()["error"] == {
        "message": "Operation Failed",
        "detail": "ACL Exception Insert Failed due to security constraints",
    }
    # Non-admin tables stay readable.
    assert readonly.get("/api/now/table/sys_choice", params={"sysparm_limit": 1}).status_code == 200


def test_readonly_writes_refused_per_operation(api: Api, readonly: Api) -> None:
    message = api.rows("sys_rest_message", "name=Payments API")[0]["sys_id"]
    path = f"/api/now/table/sys_rest_message/{message}"
    assert readonly.patch(path, json={"use_mutual_auth": True}).status_code == 403
    assert readonly.delete(path).status_code == 403
    assert api.get(path).json()["result"]["use_mutual_auth"] == "false"


def test_acl_filtering_variant_hides_rows_instead() -> None:
    with SandboxServer(SandboxFacts(acl_read_denied="filter")) as srv:
        readonly = Api(srv, srv.readonly_username, srv.readonly_password)
        listing = readonly.get(URL)
        assert listing.status_code == 200
        assert listing.json() == {"result": []}
        assert listing.headers["X-Total-Count"] == "1"  # counted before the ACL filters
        sys_id = srv.dump()["sys_rest_message"][0]["sys_id"]
        assert readonly.get(f"{URL}/{sys_id}").status_code == 404


def test_forbid_and_allow(api: Api, srv: SandboxServer) -> None:
    srv.forbid("sys_protocol_profile", "create")
    refused = api.post("/api/now/table/sys_protocol_profile", json={"protocol": "mauth"})
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "message": "Operation Failed",
        "detail": "Error during insert of sys_protocol_profile (mauth)",
    }
    assert srv.dump()["sys_protocol_profile"] == []
    srv.allow("sys_protocol_profile", "create")
    assert (
        api.post("/api/now/table/sys_protocol_profile", json={"protocol": "mauth"}).status_code
        == 201
    )
    srv.forbid("sys_rest_message", "read")
    assert api.get(URL).status_code == 403
    srv.forbid("sys_rest_message", "write")
    message = srv.dump()["sys_rest_message"][0]["sys_id"]
    assert api.patch(f"{URL}/{message}", json={"use_mutual_auth": True}).status_code == 403
    assert api.delete(f"{URL}/{message}").status_code == 403
