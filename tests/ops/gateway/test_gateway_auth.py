"""Bearer tokens over real HTTP: every route but health, OpenAPI and the CA callback needs
one; 401 without or with a bad one, 403 for too low a role; the token never in a log."""

from __future__ import annotations

import io
import json
import re

import httpx
import pytest

from messages import JobState
from ops.dev.stack import RunningStack
from workers.logs import configure_logging

from .conftest import fresh_job, wait_for

# Open to the network, but signed (HMAC over the job id): CA callbacks and "installed".
OPEN = {
    ("/healthz", "get"),
    ("/v1/jobs/{job_id}/ca-callback", "post"),
    ("/v1/jobs/{job_id}/partner-callback", "post"),
    ("/v1/ca/{profile}/crl", "get"),  # a CRL distribution point is public
}
JOB = "0" * 32
# POSTs that change nothing, so a read token may ask them: what a job would do.
READ_POSTS = {"/v1/plan"}


def guarded_operations(api: httpx.Client) -> list[tuple[str, str, bool]]:
    """(method, path, needs operator) of every operation the OpenAPI document lists."""
    paths = api.get("/openapi.json").json()["paths"]
    found = []
    for path, operations in paths.items():
        for method, spec in operations.items():
            if (path, method) in OPEN:
                continue
            assert spec.get("security"), f"{method.upper()} {path} declares no security"
            changes = method == "post" and path not in READ_POSTS
            found.append((method, path.replace("{job_id}", JOB), changes))
    return found


def test_every_route_but_health_openapi_and_callback_needs_a_token(api: httpx.Client) -> None:
    operations = guarded_operations(api)
    assert len(operations) >= 6
    for method, path, _ in operations:
        answer = api.request(method, path, json={})
        assert answer.status_code == 401, (method, path)
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["error"] == "AuthenticationFailed"
    assert api.get("/healthz").status_code == 200
    assert api.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer twoway_000000000000_" + "A" * 43,  # well formed, unknown
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_a_bad_token_is_401(api: httpx.Client, authorization: str) -> None:
    answer = api.get("/v1/jobs", headers={"Authorization": authorization})
    assert answer.status_code == 401 and answer.json()["error"] == "AuthenticationFailed"


def test_a_read_token_reads_but_may_not_change(
    stack: RunningStack, api: httpx.Client, reader: dict[str, str]
) -> None:
    assert api.get("/v1/jobs", headers=reader).status_code == 200
    assert api.get(f"/v1/jobs/{JOB}", headers=reader).status_code == 404
    for method, path, needs_operator in guarded_operations(api):
        if not needs_operator:
            continue
        answer = api.request(method, path, json=fresh_job(stack), headers=reader)
        assert answer.status_code == 403, (method, path)
        assert "'read'" in answer.json()["message"] and "operator" in answer.json()["hint"]


def test_a_revoked_token_is_refused_from_then_on(stack: RunningStack, api: httpx.Client) -> None:
    record, token = stack.app.store.tokens.create("short lived", "operator")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/v1/jobs", headers=headers).status_code == 200
    assert [r.id for r in stack.app.store.tokens.revoke(record.id)] == [record.id]
    assert api.get("/v1/jobs", headers=headers).status_code == 401


def test_a_tampered_token_is_refused(stack: RunningStack, api: httpx.Client) -> None:
    _, token = stack.app.store.tokens.create("tampered", "operator")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")  # same id, wrong secret
    assert api.get("/v1/jobs", headers={"Authorization": f"Bearer {flipped}"}).status_code == 401


def test_the_store_keeps_only_a_digest(stack: RunningStack) -> None:
    record, token = stack.app.store.tokens.create("digest only", "read")
    secret = token.rsplit("_", 1)[1]
    dump = "\n".join(str(row) for row in stack.app.store.tokens.all(include_revoked=True))
    assert record.id in dump and secret not in dump and token not in dump


def test_refusals_are_logged_with_the_token_id_never_the_token(
    stack: RunningStack, api: httpx.Client
) -> None:
    record, token = stack.app.store.tokens.create("logged", "read")
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    try:
        api.post("/v1/jobs", json={}, headers={"Authorization": f"Bearer {token}"})
        api.get("/v1/jobs", headers={"Authorization": f"Bearer {token}x"})
    finally:
        configure_logging(json=True)
    text = out.getvalue()
    assert text.count('"auth_refused"') == 2 and record.id in text
    assert token not in text and token.rsplit("_", 1)[1] not in text
    assert not re.search(r"twoway_[0-9a-f]{12}_\S{20}", text)


def test_twoway_ups_line_carries_an_operator_token_and_a_job_that_succeeds(
    stack: RunningStack, api: httpx.Client
) -> None:
    info = json.loads(json.dumps(stack.info()))  # what `twoway up` prints, as a newcomer reads it
    headers = {"Authorization": f"Bearer {info['token']}"}
    answer = api.post("/v1/jobs", json=info["example_job"], headers=headers)
    assert answer.status_code == 202
    assert wait_for(stack, answer.json()["job_id"], JobState.SUCCEEDED, JobState.FAILED).state is (
        JobState.SUCCEEDED
    )
