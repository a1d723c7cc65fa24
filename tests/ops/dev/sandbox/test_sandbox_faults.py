"""Injected faults: 500, 503, 429, slow, reset, and lost answers after a write."""

from __future__ import annotations

import time

import pytest
import requests

from ops.dev.sandbox import FaultPlan, SandboxFacts, SandboxServer

from .conftest import Api

URL = "/api/now/table/sys_rest_message"


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_use_the_error_envelope(api: Api, srv: SandboxServer, kind: str) -> None:
    srv.faults.set(FaultPlan(rate=1.0, kinds=(kind,)))
    response = api.get(URL)
    assert response.status_code == int(kind)
    assert response.json()["status"] == "failure"
    assert srv.faults.served == {kind: 1}


def test_rate_limited_answer(api: Api, srv: SandboxServer) -> None:
    srv.faults.set(FaultPlan(rate=1.0, kinds=("429",), retry_after=7, rate_limit_per_hour=50))
    before = int(time.time())
    response = api.get(URL)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["X-RateLimit-Limit"] == "50"
    assert int(response.headers["X-RateLimit-Reset"]) >= before
    assert response.headers["X-RateLimit-Rule"]
    assert response.json() == {
        "error": {
            "message": "Rate limit exceeded",
            "detail": "Rate limit of 50 requests per hour for Table API exceeded",
        },
        "status": "failure",
    }


def test_retry_header_spelling_follows_the_facts() -> None:
    with pytest.raises(ValueError, match="retry_after_header"):
        SandboxFacts(retry_after_header="Retry After")  # not a legal header name
    with SandboxServer(SandboxFacts(retry_after_header="X-Retry-After")) as srv:
        srv.faults.set(FaultPlan(rate=1.0, kinds=("429",)))
        api = Api(srv, srv.username, srv.password)
        response = api.get(URL)
        assert response.headers["X-Retry-After"] == "1"
        assert "Retry-After" not in response.headers


def test_slow_answers(api: Api, srv: SandboxServer) -> None:
    srv.faults.set(FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=0.3, max_faults=2))
    with pytest.raises(requests.ReadTimeout):
        api.get(URL, timeout=(1, 0.05))
    started = time.monotonic()
    assert api.get(URL).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert api.get(URL).status_code == 200  # max_faults reached


def test_reset_aborts_without_an_answer(api: Api, srv: SandboxServer) -> None:
    srv.faults.set(FaultPlan(rate=1.0, kinds=("reset",), max_faults=1))
    with pytest.raises(requests.ConnectionError):
        api.get(URL)
    assert api.get(URL).status_code == 200  # the session recovers with a new connection
    assert srv.request_log[-2] == ("GET", URL, 0)


def test_reset_after_write_loses_the_answer_but_keeps_the_write(
    api: Api, srv: SandboxServer
) -> None:
    srv.faults.set(FaultPlan(rate=1.0, kinds=("reset",), after_write=True, max_faults=1))
    with pytest.raises(requests.ConnectionError):
        api.post("/api/now/table/sys_certificate", json={"name": "once"})
    assert [r["name"] for r in srv.dump()["sys_certificate"]] == ["once"]
    # A blind retry now meets the unique name rule: the client must look before it writes.
    retry = api.post("/api/now/table/sys_certificate", json={"name": "once"})
    assert retry.status_code == 403


def test_503_before_write_does_not_write(api: Api, srv: SandboxServer) -> None:
    srv.faults.set(FaultPlan(rate=1.0, kinds=("503",), methods=("POST",)))
    assert api.post("/api/now/table/sys_certificate", json={"name": "x"}).status_code == 503
    assert srv.dump()["sys_certificate"] == []
    assert api.get(URL).status_code == 200  # GET is not in the plan's methods


def test_500_after_write_on_patch(api: Api, srv: SandboxServer) -> None:
    message = srv.dump()["sys_rest_message"][0]["sys_id"]
    srv.faults.set(FaultPlan(rate=1.0, kinds=("500",), after_write=True))
    response = api.patch(f"{URL}/{message}", json={"use_mutual_auth": True})
    assert response.status_code == 500
    assert srv.dump()["sys_rest_message"][0]["use_mutual_auth"] == "true"


def test_after_write_share_carries_out_that_share_of_the_faulted_writes(
    api: Api, srv: SandboxServer
) -> None:
    def run() -> list[str]:
        srv.faults.set(FaultPlan(rate=1.0, kinds=("500",), after_write=0.5, seed=7))
        for index in range(40):
            answer = api.post("/api/now/table/sys_properties", json={"name": f"share.{index}"})
            assert answer.status_code == 500  # every answer is lost
        names = [r["name"] for r in srv.dump()["sys_properties"] if r["name"].startswith("share.")]
        assert srv.faults.landed == len(names)
        srv.faults.clear()
        for row in srv.dump()["sys_properties"]:
            if row["name"].startswith("share."):
                assert (
                    api.delete(f"/api/now/table/sys_properties/{row['sys_id']}").status_code == 204
                )
        return names

    landed = run()
    assert 10 <= len(landed) <= 30  # about half of 40 carried out, the rest never happened
    assert landed == run()  # the same ones again for the same seed


def test_path_filter_and_oauth(srv: SandboxServer, api: Api) -> None:
    srv.faults.set(FaultPlan(rate=1.0, kinds=("503",), paths=("/oauth_token.do",)))
    assert api.get(URL).status_code == 200
    token = requests.post(srv.url + "/oauth_token.do", data={"grant_type": "password"}, timeout=5)
    assert token.status_code == 503


def test_faults_are_repeatable_for_a_seed(api: Api, srv: SandboxServer) -> None:
    def run() -> list[int]:
        srv.faults.set(FaultPlan(rate=0.5, kinds=("500", "503", "429"), seed=42))
        return [api.get(URL).status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert 200 in first and set(first) - {200}
    assert sum(srv.faults.served.values()) == sum(1 for s in first if s != 200)
    srv.faults.clear()
    assert all(api.get(URL).status_code == 200 for _ in range(5))


def test_control_plane_is_not_faulted(srv: SandboxServer) -> None:
    srv.faults.set(FaultPlan(rate=1.0, kinds=("500",)))
    response = requests.get(srv.url + "/sandbox/dump", auth=(srv.username, srv.password), timeout=5)
    assert response.status_code == 200
