"""The console over plain HTTP (no browser): the session cookie, its ends, the sign-in
form's own CSRF token, nothing loaded from elsewhere, filters, and dead letters on real
RabbitMQ."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from messages import Stage
from ops.console.session import COOKIE
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.rabbitmq.chores import delete_queues, stage_queue_names
from ops.rabbitmq.dead_letters import DeadLetters
from tests.conftest import AMQP_URL
from tests.ops.rabbitmq.test_dead_letters import bury, failed_job


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


@pytest.fixture(scope="module")
def on_rabbitmq() -> Iterator[RunningStack]:
    """A stack whose stages run on RabbitMQ (no worker processes: none is needed here)."""
    with Stack(StackOptions(broker="rabbitmq", worker_processes=0)) as running:
        yield running
        delete_queues(AMQP_URL, stage_queue_names(running.queues))


def client(stack: RunningStack) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway.url, timeout=30)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def signed_in(stack: RunningStack, token: str | None = None) -> httpx.Client:
    browser = client(stack)
    form = browser.get("/ui/signin")
    answer = browser.post(
        "/ui/signin", data={"token": token or stack.token, "csrf": csrf_of(form.text)}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/jobs"
    return browser


def test_the_session_cookie_is_httponly_strict_expiring_and_does_not_hold_the_token(
    stack: RunningStack,
) -> None:
    browser = client(stack)
    form = browser.get("/ui/signin")
    answer = browser.post("/ui/signin", data={"token": stack.token, "csrf": csrf_of(form.text)})
    header = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(COOKIE))
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/ui" in header
    assert re.search(r"Max-Age=\d+", header)
    secret = stack.token.split("_")[2]
    assert secret not in header and stack.token.split("_")[1] not in header  # sealed
    assert browser.get("/ui/jobs").status_code == 200


def test_a_tampered_cookie_or_none_leads_to_the_sign_in_page(stack: RunningStack) -> None:
    browser = signed_in(stack)
    value = browser.cookies[COOKIE]
    browser.cookies.set(COOKIE, value[:-4] + "AAAA", path="/ui")
    answer = browser.get("/ui/jobs")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/signin")
    assert client(stack).get("/ui/jobs.json").status_code == 401


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(stack: RunningStack) -> None:
    browser = signed_in(stack)
    copy = browser.cookies[COOKIE]
    page = browser.get("/ui/jobs")
    assert browser.post("/ui/signout", data={"csrf": csrf_of(page.text)}).status_code == 303
    thief = client(stack)
    thief.cookies.set(COOKIE, copy, path="/ui")
    assert thief.get("/ui/jobs.json").status_code == 401


def test_revoking_the_token_ends_its_sessions(stack: RunningStack) -> None:
    record, token = stack.app.store.tokens.create("short-lived", "operator")
    browser = signed_in(stack, token)
    assert browser.get("/ui/jobs.json").status_code == 200
    stack.app.store.tokens.revoke(record.id)
    assert browser.get("/ui/jobs.json").status_code == 401


def test_an_expired_session_is_refused(stack: RunningStack) -> None:
    browser = signed_in(stack)
    payload = json.loads(stack.app.store.artifacts.open(browser.cookies[COOKIE].encode(), True))
    payload["exp"] = time.time() - 1
    stale = stack.app.store.artifacts.seal(json.dumps(payload).encode()).decode()
    browser.cookies.set(COOKIE, stale, path="/ui")
    assert browser.get("/ui/jobs.json").status_code == 401


def test_the_sign_in_form_needs_its_csrf_token_and_a_valid_token(stack: RunningStack) -> None:
    browser = client(stack)
    browser.get("/ui/signin")
    refused = browser.post("/ui/signin", data={"token": stack.token})
    assert refused.status_code == 403 and COOKIE not in refused.headers.get("set-cookie", "")
    form = browser.get("/ui/signin")
    wrong = browser.post("/ui/signin", data={"token": "twoway_nope", "csrf": csrf_of(form.text)})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert "twoway_nope" not in wrong.text


def test_signing_in_returns_only_to_a_console_page(stack: RunningStack) -> None:
    browser = client(stack)
    form = browser.get("/ui/signin?next=//evil.example/ui/")
    data = {"token": stack.token, "csrf": csrf_of(form.text), "next": "https://evil.example/"}
    assert browser.post("/ui/signin", data=data).headers["location"] == "/ui/jobs"


def test_pages_load_nothing_from_outside_the_gateway(stack: RunningStack) -> None:
    browser = signed_in(stack)
    job, _ = stack.app.submit(stack.example_job())
    for path in ("/ui/jobs", f"/ui/jobs/{job.id}", "/ui/waiting", "/ui/certificates"):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert "default-src 'none'" in page.headers["content-security-policy"]
        links = re.findall(r'(?:src|href|action)="([^"]*)"', page.text)
        assert links and all(link.startswith(("/", "?", "#")) for link in links), links
    for asset in ("/ui/static/console.css", "/ui/static/console.js"):
        assert browser.get(asset).status_code == 200


def test_the_list_filters_by_target_and_the_json_route_serves_rows(stack: RunningStack) -> None:
    stack.sandbox.add_rest_message("Elsewhere API", stack.third_party.url)
    other = stack.example_job(
        target={"kind": "rest", "name": "Elsewhere API"},
        keystore={"record_name": "twoway elsewhere", "alias": "twoway"},
        protocol_profile={"name": "mauthelsewhere", "port": stack.third_party.port},
    )
    job, _ = stack.app.submit(other)
    browser = signed_in(stack)
    rows = browser.get("/ui/jobs.json", params={"target": "Elsewhere API"}).json()
    assert re.findall(r'data-job="([0-9a-f]{32})"', rows["rows"]) == [job.id]
    page = browser.get("/ui/jobs", params={"state": "no-such-state"})
    assert page.status_code == 400 and "is not a job state" in page.text


def test_dead_letters_are_listed_and_requeued_with_a_reason(on_rabbitmq: RunningStack) -> None:
    stack = on_rabbitmq
    dead = DeadLetters(AMQP_URL, stack.app.runtime.routes, stack.app.store)
    job_id = failed_job(stack.app.store)
    message_id = bury(dead, Stage.ENABLE, job_id)
    browser = signed_in(stack)
    page = browser.get("/ui/dead-letters")
    assert job_id[:12] in page.text and "ServiceNowUnavailable" in page.text
    assert "hunter22" not in page.text
    data = {"csrf": csrf_of(page.text), "message_id": message_id, "reason": "instance is back"}
    answer = browser.post("/ui/dead-letters/requeue", data=data)
    assert answer.status_code == 303, answer.text
    assert job_id[:12] not in browser.get("/ui/dead-letters").text
    revived = [e for e in stack.app.store.history(job_id) if e.kind == "dead_letter_replayed"]
    assert revived[0].detail["reason"] == "instance is back"
    assert revived[0].detail["actor"].startswith("token:twoway up")


def test_on_the_stub_broker_the_dead_letters_page_says_what_the_api_says(
    stack: RunningStack,
) -> None:
    """No RabbitMQ, no dead letters kept: the API answers 409, and the page says why in
    the API's words instead of "No dead letters"."""
    api = client(stack).get("/v1/dead-letters", headers={"Authorization": f"Bearer {stack.token}"})
    assert api.status_code == 409, api.text
    said = api.json()
    page = signed_in(stack).get("/ui/dead-letters")
    assert page.status_code == 200
    assert html.escape(said["message"], quote=False) in page.text, page.text
    assert html.escape(said["hint"], quote=False) in page.text
    assert "No dead letters" not in page.text and "RabbitMQ" in said["message"]


def test_a_job_waiting_for_the_third_party_is_shown_and_goes_on_when_told(
    stack: RunningStack,
) -> None:
    """The wait is listed with its deadline; the job page offers the CA chain and the
    "installed" form, which resumes the job as the API's partner-installed does."""
    from ops.dev.thirdparty import ThirdPartyServer
    from tests.e2e.conftest import wait_all

    strict = ThirdPartyServer([]).start()  # has not installed anything of ours
    try:
        stack.sandbox.add_rest_message("Console Partner API", strict.url)
        job, _ = stack.app.submit(
            stack.example_job(
                target={"kind": "rest", "name": "Console Partner API"},
                keystore={"record_name": "twoway console partner", "alias": "twoway"},
                server_certificate={"pem": strict.server_certificate_pem.decode()},
                protocol_profile={"name": "mauthconsolepartner", "port": strict.port},
            )
        )
        wait_all(stack, [job.id], timeout=60)
        browser = signed_in(stack)
        waiting = browser.get("/ui/waiting").text
        assert job.id in waiting and "the third party to install our client certificate" in waiting
        page = browser.get(f"/ui/jobs/{job.id}")
        assert f"/ui/jobs/{job.id}/files/chain" in page.text and "partner-installed" in page.text
        chain = browser.get(f"/ui/jobs/{job.id}/files/chain")
        assert chain.text.startswith("-----BEGIN CERTIFICATE-----")
        pem = stack.app.store.artifacts.get(job.id, "client_cert_pem")
        assert pem is not None
        strict.trust(pem)
        told = browser.post(
            f"/ui/jobs/{job.id}/partner-installed",
            data={"csrf": csrf_of(page.text), "reason": "ticket 7 closed"},
        )
        assert told.status_code == 303, told.text
        wait_all(stack, [job.id], timeout=60)
        assert stack.app.store.get_job(job.id).state.value == "succeeded"
        [resumed] = [e for e in stack.app.store.history(job.id) if e.kind == "third_party_resumed"]
        assert resumed.detail["source"] == "console"
        assert resumed.detail["reason"] == "ticket 7 closed"
    finally:
        strict.stop()


def test_a_job_resumed_through_the_api_shows_wait_for_ca_done(stack: RunningStack) -> None:
    """``twoway resume`` (the API's resume route) completes wait-for-ca: the job page
    shows it done, with the time the job waited, not pending."""
    from tests.e2e.conftest import wait_all
    from tests.workers.levers.test_resume_and_poll import issue, paused
    from workers.pki import Authority, cert_to_pem

    authority = Authority.new_root("console resume root")
    stack.third_party.trust(cert_to_pem(authority.root))  # the partner takes what it signs
    job_id = paused(stack)
    certificate, chain = issue(stack, authority, job_id)
    answer = client(stack).post(
        f"/v1/jobs/{job_id}/resume",
        headers={"Authorization": f"Bearer {stack.token}"},
        json={"certificate": certificate.decode(), "chain": chain.decode()},
    )
    assert answer.status_code == 200, answer.text
    wait_all(stack, [job_id], timeout=60)
    page = signed_in(stack).get(f"/ui/jobs/{job_id}").text
    stages = r'<li class="stage stage-([a-z]+)">\s*<span class="dot"[^>]*></span>\s*'
    states = {
        name: state for state, name in re.findall(stages + r'<span class="name">([a-z-]+)', page)
    }
    assert len(states) == 9 and set(states.values()) == {"done"}, states


def test_values_before_a_take_over_name_the_profile_as_plan_does(stack: RunningStack) -> None:
    """A job that takes over a live message keeps what it found; the job page names the
    profile the message used (as ``twoway plan`` does), not only its sys_id."""
    from tests.e2e.conftest import wait_all

    live = stack.sandbox.add_live_rest_message(
        "Console Live API", stack.third_party.url, protocol="mauthconsolelive"
    )
    job, _ = stack.app.submit(
        stack.example_job(
            replace=True,
            target={"kind": "rest", "name": "Console Live API"},
            keystore={"record_name": "twoway console live", "alias": "twoway"},
            protocol_profile={"name": "mauthconsolenew", "port": stack.third_party.port},
        )
    )
    wait_all(stack, [job.id], timeout=60)
    assert stack.app.store.get_job(job.id).state.value == "succeeded"
    page = signed_in(stack).get(f"/ui/jobs/{job.id}").text
    before = page[page.index("Values before the job") :]
    before = before[: before.index("</table>")]
    rows = re.findall(r"<td>protocol_name</td><td>(.*?)</td>", before)
    assert rows and all("mauthconsolelive" in row for row in rows), rows
    assert all(live.profile_sys_id in row for row in rows), rows  # and which record it is


def test_a_profile_kept_without_its_name_shows_as_a_sys_id_so_marked() -> None:
    """Values kept before names were (no ``previous_profile_names``): the sys_id is shown,
    marked as one whose name is not on record; other values as they are."""
    from ops.console.views import instance_holds

    profile = "a" * 32
    kept = {"b" * 32: {"protocol_name": profile, "use_mutual_auth": "true"}}
    holds = instance_holds({"history": []}, {"previous_values": (json.dumps(kept).encode(), False)})
    shown = holds["previous_values"]["b" * 32]
    assert shown["protocol_name"] == {"value": None, "sys_id": profile}
    assert shown["use_mutual_auth"] == {"value": "true", "sys_id": None}


def test_cancel_says_what_stays_on_the_instance_and_that_rollback_removes_it(
    stack: RunningStack,
) -> None:
    """A job that made records: the cancel form warns, and once cancelled the page names
    what stays until a rollback. A job that made nothing: no such words."""
    from ops.dev.thirdparty import ThirdPartyServer
    from tests.e2e.conftest import wait_all

    strict = ThirdPartyServer([]).start()  # never installs ours: the job waits, records made
    try:
        stack.sandbox.add_rest_message("Console Cancel API", strict.url)
        job, _ = stack.app.submit(
            stack.example_job(
                target={"kind": "rest", "name": "Console Cancel API"},
                keystore={"record_name": "twoway console cancel", "alias": "twoway"},
                server_certificate={"pem": strict.server_certificate_pem.decode()},
                protocol_profile={"name": "mauthconsolecancel", "port": strict.port},
            )
        )
        wait_all(stack, [job.id], timeout=60)
        browser = signed_in(stack)
        page = browser.get(f"/ui/jobs/{job.id}").text
        assert 'id="cancel-leaves"' in page and "roll back to remove it" in page
        done = browser.post(
            f"/ui/jobs/{job.id}/cancel", data={"csrf": csrf_of(page), "reason": "partner left"}
        )
        assert done.status_code == 303, done.text
        after = browser.get(done.headers["location"]).text
        [keystore] = [
            e.detail["sys_id"]
            for e in stack.app.store.history(job.id)
            if e.kind == "instance_record" and e.detail.get("what") == "keystore"
        ]
        found = re.search(r'<p class="notice" id="left-on-instance">(.*?)</p>', after, re.S)
        assert found, "the cancelled job's page does not say what stays"
        print("left on instance:", html.unescape(re.sub(r"<[^>]+>", "", found.group(1))))
        assert keystore in found.group(1) and "rolled back" in found.group(1)
    finally:
        strict.stop()

    from tests.ops.gateway.conftest import fresh_job

    nothing, _ = stack.app.submit({**fresh_job(stack), "ca": {"profile": "manual"}})
    wait_all(stack, [nothing.id], timeout=60)
    page = signed_in(stack).get(f"/ui/jobs/{nothing.id}").text
    assert 'id="cancel-leaves"' not in page
