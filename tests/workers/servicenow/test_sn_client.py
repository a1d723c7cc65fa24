"""ServiceNowClient against a real sandbox instance over HTTP."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import pytest
import requests

from ops.dev.sandbox import FaultPlan, SandboxServer
from workers.errors import RateLimited, ServiceNowRejected, ServiceNowUnavailable
from workers.servicenow import BasicAuth, CallRecord, OAuthPassword, ServiceNowClient

MakeClient = Callable[..., ServiceNowClient]


def _raw_count(srv: SandboxServer, query: str, version: str = "v2") -> requests.Response:
    return requests.get(
        f"{srv.url}/api/now/{version}/table/sys_choice",
        params={"sysparm_query": query, "sysparm_limit": "5"},
        auth=(srv.username, srv.password),
        headers={"Accept": "application/json"},
        timeout=5,
    )


# ---- exact lookups ----------------------------------------------------------------------


def test_a_misspelled_field_matches_everything_on_the_instance_but_nothing_here(
    sandbox: SandboxServer, client: ServiceNowClient
) -> None:
    raw = _raw_count(sandbox, "nmae=sys_certificate")
    assert raw.status_code == 200 and int(raw.headers["X-Total-Count"]) > 10
    assert client.query("sys_choice", {"nmae": "sys_certificate"}) == []
    assert client.query("sys_choice", {"name": "sys_certificate", "elemnt": "type"}) == []
    found = client.query("sys_choice", {"name": "sys_certificate", "element": "type"})
    assert found and all(r["element"] == "type" for r in found)


def test_fields_asked_for_still_allow_the_check(client: ServiceNowClient) -> None:
    found = client.query("sys_choice", {"name": "sys_certificate"}, fields=("label",))
    assert found and all(r["name"] == "sys_certificate" for r in found)


@pytest.mark.parametrize("version", ["v1", "v2", ""])
def test_no_match_is_an_empty_list_in_every_version(
    sandbox: SandboxServer, make_client: MakeClient, version: str
) -> None:
    client = make_client(api_version=version)
    assert client.query("sys_certificate", {"name": "nothing here"}) == []
    assert client.query("sys_choice", {"name": "sys_certificate", "element": "format"})
    if version == "v1":  # what the client turned into []
        assert _raw_count(sandbox, "name=nothing", "v1").status_code == 404


def test_pages_are_followed_to_the_total(sandbox: SandboxServer, make_client: MakeClient) -> None:
    small, big = make_client(page_size=3), make_client()
    wanted = {"name": "sys_certificate"}
    everything = big.query("sys_dictionary", wanted)
    assert len(sandbox.request_log) == 1
    assert small.query("sys_dictionary", wanted) == everything
    assert len(sandbox.request_log) == 1 + -(-len(everything) // 3)
    assert len(small.query("sys_dictionary", wanted)) > 6
    assert len(small.query("sys_dictionary", wanted, limit=4)) == 4


def test_display_values_are_checked_on_stored_values(
    sandbox: SandboxServer, client: ServiceNowClient
) -> None:
    message = client.query("sys_rest_message", {"name": "Payments API"})[0]
    methods = client.query(
        "sys_rest_message_fn", {"rest_message": message["sys_id"]}, display_value=True
    )
    assert len(methods) == 3 and {m["rest_message"] for m in methods} == {"Payments API"}


# ---- records and attachments -------------------------------------------------------------


def test_create_get_update_delete(client: ServiceNowClient) -> None:
    made = client.create("sys_protocol_profile", {"protocol": "crud", "default_port": "8443"})
    assert made["default_port"] == "8443"
    changed = client.update("sys_protocol_profile", made["sys_id"], {"default_port": "9443"})
    assert changed["default_port"] == "9443"
    assert client.get("sys_protocol_profile", made["sys_id"])["protocol"] == "crud"  # type: ignore[index]
    client.delete("sys_protocol_profile", made["sys_id"])
    assert client.get("sys_protocol_profile", made["sys_id"]) is None


def test_attachment_round_trip_with_a_lower_case_sha256(client: ServiceNowClient) -> None:
    record = client.create("sys_certificate", {"name": "att", "active": "false"})
    data = bytes(range(256)) * 10
    meta = client.upload_attachment("sys_certificate", record["sys_id"], "client.jks", data)
    assert meta["size_bytes"] == str(len(data))
    listed = client.list_attachments("sys_certificate", record["sys_id"])
    assert [m["sys_id"] for m in listed] == [meta["sys_id"]]
    assert client.attachment_hash(meta["sys_id"]) == hashlib.sha256(data).hexdigest()
    assert client.download_attachment(meta["sys_id"]) == data
    client.delete_attachment(meta["sys_id"])
    assert client.list_attachments("sys_certificate", record["sys_id"]) == []


# ---- errors ------------------------------------------------------------------------------


def test_401_carries_message_detail_and_no_password(sandbox: SandboxServer) -> None:
    auth = BasicAuth(username=sandbox.username, password="wrong-pa55word")
    with (
        ServiceNowClient(sandbox.url, auth, timeout=(1, 1)) as bad,
        pytest.raises(ServiceNowRejected) as caught,
    ):
        bad.query("sys_certificate")
    err = caught.value
    assert (err.status_code, err.sn_message) == (401, "User Not Authenticated")
    assert err.sn_detail and "credentials" in err.hint
    assert "wrong-pa55word" not in repr(err.as_dict()) + str(err)


def test_403_from_a_business_rule_and_from_an_acl(
    sandbox: SandboxServer, client: ServiceNowClient
) -> None:
    sandbox.forbid("sys_protocol_profile", "create")
    with pytest.raises(ServiceNowRejected) as caught:
        client.create("sys_protocol_profile", {"protocol": "nope"})
    assert caught.value.status_code == 403 and caught.value.sn_message == "Operation Failed"
    assert "insert of sys_protocol_profile" in caught.value.sn_detail
    auth = BasicAuth(username=sandbox.readonly_username, password=sandbox.readonly_password)
    with (
        ServiceNowClient(sandbox.url, auth, timeout=(1, 1)) as reader,
        pytest.raises(ServiceNowRejected) as denied,
    ):
        reader.query("sys_certificate")
    assert denied.value.status_code == 403 and "admin role" in denied.value.hint


def test_404_on_a_missing_record(client: ServiceNowClient) -> None:
    with pytest.raises(ServiceNowRejected) as caught:
        client.update("sys_certificate", "0" * 32, {"active": "false"})
    assert (caught.value.status_code, caught.value.sn_message) == (404, "No Record found")
    assert "ACL" in caught.value.sn_detail and "does not exist" in caught.value.hint
    assert client.get("sys_certificate", "0" * 32) is None


# ---- retries and waits -------------------------------------------------------------------


def test_429_waits_as_asked_then_succeeds(
    sandbox: SandboxServer, client: ServiceNowClient, calls: list[CallRecord]
) -> None:
    sandbox.faults.set(FaultPlan(rate=1.0, kinds=("429",), retry_after=1, max_faults=1))
    started = time.monotonic()
    assert client.query("sys_certificate") == []
    assert time.monotonic() - started >= 0.95
    assert [(c.status, c.outcome) for c in calls] == [(429, "wait"), (200, "ok")]


def test_429_asking_too_long_or_on_post_is_raised(
    sandbox: SandboxServer, make_client: MakeClient
) -> None:
    sandbox.faults.set(FaultPlan(rate=1.0, kinds=("429",), retry_after=30, max_faults=2))
    client = make_client(max_wait=5.0)
    with pytest.raises(RateLimited) as caught:
        client.query("sys_certificate")
    assert caught.value.retry_after == 30
    with pytest.raises(RateLimited):
        client.create("sys_certificate", {"name": "x"})
    posts = [entry for entry in sandbox.request_log if entry[0] == "POST"]
    assert posts == [("POST", "/api/now/v2/table/sys_certificate", 429)]


def test_server_errors_and_resets_are_retried_for_reads(
    sandbox: SandboxServer, client: ServiceNowClient, calls: list[CallRecord]
) -> None:
    sandbox.faults.set(FaultPlan(rate=1.0, kinds=("503", "reset", "500"), max_faults=3))
    assert client.query("sys_certificate") == []
    assert [c.outcome for c in calls] == ["retry", "retry", "retry", "ok"]
    assert calls[0].path_template == "/api/now/v2/table/sys_certificate"


def test_a_slow_answer_times_out_and_is_retried(
    sandbox: SandboxServer, make_client: MakeClient
) -> None:
    sandbox.faults.set(FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=0.6, max_faults=1))
    records: list[CallRecord] = []
    client = make_client(timeout=(1.0, 0.3), observer=records.append)
    assert client.query("sys_certificate") == []
    assert [(r.status, r.outcome) for r in records] == [(None, "retry"), (200, "ok")]


def test_retries_are_bounded(sandbox: SandboxServer, make_client: MakeClient) -> None:
    sandbox.faults.set(FaultPlan(rate=1.0, kinds=("503",)))
    with pytest.raises(ServiceNowUnavailable):
        make_client(retries=2).query("sys_certificate")
    assert len(sandbox.request_log) == 3


def test_a_post_is_not_sent_twice(sandbox: SandboxServer, client: ServiceNowClient) -> None:
    sandbox.faults.set(FaultPlan(rate=1.0, kinds=("reset",), after_write=True, max_faults=1))
    with pytest.raises(ServiceNowUnavailable):
        client.create("sys_protocol_profile", {"protocol": "lost"})
    assert [e[0] for e in sandbox.request_log] == ["POST"]
    # the write happened, only its answer was lost: the caller must look before retrying
    assert client.query("sys_protocol_profile", {"protocol": "lost"})


def test_a_retried_delete_that_already_worked_is_done(
    sandbox: SandboxServer, client: ServiceNowClient
) -> None:
    made = client.create("sys_protocol_profile", {"protocol": "gone"})
    sandbox.faults.set(FaultPlan(rate=1.0, kinds=("500",), after_write=True, max_faults=1))
    client.delete("sys_protocol_profile", made["sys_id"])
    assert [e[2] for e in sandbox.request_log if e[0] == "DELETE"] == [500, 404]


def test_a_post_that_never_connected_is_retried() -> None:
    auth = BasicAuth(username="u", password="p")
    records: list[CallRecord] = []
    with (
        ServiceNowClient(
            "http://127.0.0.1:9", auth, retries=1, backoff=0.01, observer=records.append
        ) as client,
        pytest.raises(ServiceNowUnavailable) as caught,
    ):
        client.create("sys_certificate", {"name": "x"})
    assert "connection failed" in str(caught.value)
    assert [(r.method, r.status, r.outcome) for r in records] == [
        ("POST", None, "retry"),
        ("POST", None, "error"),
    ]


# ---- OAuth -------------------------------------------------------------------------------


def _oauth(srv: SandboxServer, secret: str | None = None) -> OAuthPassword:
    return OAuthPassword(
        client_id=srv.oauth_client_id,
        client_secret=secret or srv.oauth_client_secret,
        username=srv.username,
        password=srv.password,
    )


def test_oauth_token_is_fetched_once_and_renewed_on_401(sandbox: SandboxServer) -> None:
    records: list[CallRecord] = []
    with ServiceNowClient(sandbox.url, _oauth(sandbox), observer=records.append) as client:
        client.query("sys_certificate")
        client.query("sys_certificate")
        client._http._tokens._token = "revoked"  # type: ignore[union-attr]
        client.query("sys_certificate")
    outline = [(r.method, r.path_template, r.status, r.outcome) for r in records]
    assert [o for o in outline if o[1] == "/oauth_token.do"] == [
        ("POST", "/oauth_token.do", 200, "ok"),
        ("POST", "/oauth_token.do", 200, "ok"),
    ]
    assert ("GET", "/api/now/v2/table/sys_certificate", 401, "retry") in outline


def test_a_wrong_oauth_secret_is_rejected_without_showing_it(sandbox: SandboxServer) -> None:
    auth = _oauth(sandbox, secret="not-the-s3cret")
    with (
        ServiceNowClient(sandbox.url, auth, timeout=(1, 1)) as client,
        pytest.raises(ServiceNowRejected) as caught,
    ):
        client.query("sys_certificate")
    assert caught.value.status_code == 401
    assert "not-the-s3cret" not in str(caught.value.as_dict())
    assert sandbox.password not in str(caught.value.as_dict())
