"""Users, roles and role-based ACLs, and a message already live on mutual auth."""

from __future__ import annotations

from ops.dev.sandbox import LIVE_PROTOCOL, SandboxServer
from tests.ops.dev.sandbox.conftest import Api


def roles_of(api: Api, username: str) -> set[str]:
    user = api.get("/api/now/table/sys_user", params={"sysparm_query": f"user_name={username}"})
    sys_id = user.json()["result"][0]["sys_id"]
    grants = api.get(
        "/api/now/table/sys_user_has_role",
        params={"sysparm_query": f"user={sys_id}", "sysparm_fields": "role.name,state"},
    )
    return {row["role.name"] for row in grants.json()["result"] if row["state"] == "active"}


def test_the_integration_user_holds_admin_by_default() -> None:
    with SandboxServer() as srv:
        api = Api(srv, srv.username, srv.password)
        assert roles_of(api, srv.username) == {"admin"}
        assert roles_of(api, srv.readonly_username) == set()


def test_a_user_with_only_web_service_admin_manages_messages_but_not_certificates() -> None:
    with SandboxServer(integration_roles=("web_service_admin",)) as srv:
        api = Api(srv, srv.username, srv.password)
        assert roles_of(api, srv.username) == {"web_service_admin"}
        message = api.get("/api/now/table/sys_rest_message").json()["result"][0]
        path = f"/api/now/table/sys_rest_message/{message['sys_id']}"
        assert api.patch(path, json={"description": "x"}).status_code == 200
        for table in ("sys_certificate", "sys_protocol_profile"):
            assert api.get(f"/api/now/table/{table}").status_code == 403
            assert api.post(f"/api/now/table/{table}", json={"name": "x"}).status_code == 403


def test_live_payments_is_on_mutual_auth_with_its_own_active_keystore() -> None:
    with SandboxServer(live_payments=True) as srv:
        api = Api(srv, srv.username, srv.password)
        plain = {"sysparm_exclude_reference_link": "true"}
        message = api.get(
            "/api/now/table/sys_rest_message",
            params={**plain, "sysparm_query": "name=Payments API"},
        ).json()["result"][0]
        profile = api.get(
            f"/api/now/table/sys_protocol_profile/{message['protocol_name']}", params=plain
        ).json()["result"]
        keystore = api.get(
            f"/api/now/table/sys_certificate/{profile['keystore']}", params=plain
        ).json()["result"]
        methods = api.get(
            "/api/now/table/sys_rest_message_fn",
            params={**plain, "sysparm_query": f"rest_message={message['sys_id']}"},
        ).json()["result"]
        assert message["use_mutual_auth"] == "true" and profile["protocol"] == LIVE_PROTOCOL
        assert {(m["use_mutual_auth"], m["protocol_name"]) for m in methods} == {
            ("true", message["protocol_name"])
        }
        assert keystore["type"] == "key_store" and keystore["active"] == "true"
        assert srv.live is not None and srv.live.keystore_sys_id == keystore["sys_id"]
        assert srv.broken_keystores() == []  # it loads with its password, as the JVM would
