"""Safe on a live instance: a message that works keeps working while a new job proves
itself, waits for the third party, or is rolled back in any order (issue 14)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from messages import JobState, KeyType, ProfileCreated, Stage
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.e2e.conftest import local_ca, wait_all
from workers.errors import TakeOverRefused
from workers.levers.replay import replay
from workers.levers.rollback import rollback

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    options = StackOptions(broker="stub", poll_every_s=0.3, probe_every_s=1.0)
    with Stack(options) as running:
        yield running


@pytest.fixture
def partner(stack: RunningStack) -> Iterator[ThirdPartyServer]:
    server = ThirdPartyServer([local_ca(stack).root_pem]).start()
    yield server
    server.stop()


def submit(
    stack: RunningStack, message: str, partner: ThirdPartyServer, slug: str, **changes: Any
) -> str:
    job, _ = stack.app.submit(
        stack.example_job(
            KeyType.EC256,
            target={"kind": "rest", "name": message},
            keystore={"record_name": f"twoway {slug}", "alias": "twoway"},
            server_certificate={"pem": partner.server_certificate_pem.decode()},
            protocol_profile={"name": f"mauth{slug}", "port": partner.port},
            **changes,
        )
    )
    wait_all(stack, [job.id], timeout=60)
    return job.id


def state(stack: RunningStack, job_id: str) -> tuple[JobState, Stage | None]:
    job = stack.app.store.get_job(job_id)
    return job.state, job.stage


def kinds(stack: RunningStack, job_id: str) -> list[str]:
    return [event.kind for event in stack.app.store.history(job_id)]


def rows(stack: RunningStack, message: str) -> list[dict[str, str]]:
    """The message and each of its methods, as the instance holds them now."""
    [row] = stack.sandbox.store.select("sys_rest_message", f"name={message}")
    methods = stack.sandbox.store.select("sys_rest_message_fn", f"rest_message={row['sys_id']}")
    return [row, *methods]


def profile_of(stack: RunningStack, job_id: str) -> str:
    recorded = stack.app.store.progress.get_output(job_id, Stage.CREATE_PROFILE)
    assert recorded is not None
    return ProfileCreated.model_validate_json(recorded.message).profile_sys_id


def client_cert(stack: RunningStack, job_id: str) -> bytes:
    pem = stack.app.store.artifacts.get(job_id, "client_cert_pem")
    assert pem is not None
    return pem


def live(stack: RunningStack, message: str, partner: ThirdPartyServer, slug: str) -> str:
    """A message already on mutual auth, as a partner knows it: only this certificate."""
    stack.sandbox.add_rest_message(message, partner.url)
    first = submit(stack, message, partner, slug)
    assert state(stack, first) == (JobState.SUCCEEDED, Stage.VERIFY)
    partner.trust_only([client_cert(stack, first)])  # installed long ago; our CA is not
    return first


def wait_for(stack: RunningStack, job_id: str, wanted: JobState, timeout: float = 30) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while state(stack, job_id)[0] is not wanted and datetime.now(UTC) < deadline:
        time.sleep(0.2)
    assert state(stack, job_id)[0] is wanted, kinds(stack, job_id)


def test_a_take_over_waits_for_the_partner_and_the_old_profile_keeps_working(
    stack: RunningStack, partner: ThirdPartyServer
) -> None:
    old = live(stack, "Payments Live", partner, "paylive")
    with pytest.raises(TakeOverRefused) as refused:
        submit(stack, "Payments Live", partner, "paylivenew")
    assert "protocol profile 'mauthpaylive' with keystore 'twoway paylive'" in refused.value.message
    assert '"replace": true' in refused.value.hint

    new = submit(stack, "Payments Live", partner, "paylivenew", replace=True)
    assert state(stack, new) == (JobState.WAITING_FOR_THIRD_PARTY, Stage.ENABLE)
    before = rows(stack, "Payments Live")
    assert len(before) == 4
    assert {(r["use_mutual_auth"], r["protocol_name"]) for r in before} == {
        ("true", profile_of(stack, old))
    }
    # the configuration in use still handshakes through the instance (verify, read-only)
    served = partner.requests_served
    replay(stack.app.runtime, old, Stage.VERIFY, reason="still works?", actor="test")
    wait_for(stack, old, JobState.SUCCEEDED)
    assert partner.requests_served == served + 1

    partner.trust(client_cert(stack, new))  # the partner installs the new certificate
    wait_for(stack, new, JobState.SUCCEEDED)
    history = stack.app.store.history(new)
    [resumed] = [e for e in history if e.kind == "third_party_resumed"]
    assert resumed.detail["source"] == "poller"
    assert kinds(stack, new).index("switch_proved") < kinds(stack, new).index("mutual_auth_enabled")
    assert {r["protocol_name"] for r in rows(stack, "Payments Live")} == {profile_of(stack, new)}


def test_an_unproven_switch_that_fails_verify_is_switched_back(
    stack: RunningStack, partner: ThirdPartyServer
) -> None:
    old = live(stack, "Unproven API", partner, "unproven")
    new = submit(
        stack,
        "Unproven API",
        partner,
        "unprovennew",
        replace=True,
        enable={"prove_first": False},
    )
    assert state(stack, new) == (JobState.FAILED, Stage.VERIFY)
    seen = kinds(stack, new)
    assert "switch_unproven" in seen and "switched_back" in seen
    assert {(r["use_mutual_auth"], r["protocol_name"]) for r in rows(stack, "Unproven API")} == {
        ("true", profile_of(stack, old))
    }


def test_a_wait_past_its_deadline_fails_and_leaves_the_message_alone(stack: RunningStack) -> None:
    stranger = ThirdPartyServer([]).start()
    try:
        stack.sandbox.add_rest_message("Slow Partner API", stranger.url)
        job_id = submit(stack, "Slow Partner API", stranger, "slowpartner")
        assert state(stack, job_id) == (JobState.WAITING_FOR_THIRD_PARTY, Stage.ENABLE)
        later = datetime.now(UTC) + timedelta(days=stack.config.third_party.max_wait_days + 1)
        report = stack.poller.run_once(now=later)
        assert job_id in report.expired
        job = stack.app.store.get_job(job_id)
        assert (job.state, job.stage) == (JobState.FAILED, Stage.ENABLE)
        assert job.error is not None and "the message was not changed" in job.error["message"]
        assert {r["use_mutual_auth"] for r in rows(stack, "Slow Partner API")} == {"false"}
    finally:
        stranger.stop()


def test_the_workflow_says_installed_through_the_api(stack: RunningStack) -> None:
    stranger = ThirdPartyServer([]).start()
    try:
        stack.sandbox.add_rest_message("Told API", stranger.url)
        job_id = submit(stack, "Told API", stranger, "told")
        auth = {"Authorization": f"Bearer {stack.token}"}
        with httpx.Client(base_url=stack.gateway.url, headers=auth, timeout=10) as api:
            chain = api.get(f"/v1/jobs/{job_id}/ca-chain")
            assert chain.status_code == 200 and chain.text.startswith("-----BEGIN CERTIFICATE")
            stranger.trust(client_cert(stack, job_id))
            said = api.post(f"/v1/jobs/{job_id}/partner-installed", json={"reason": "ticket 42"})
            assert said.status_code == 202, said.text
            wait_for(stack, job_id, JobState.SUCCEEDED)
            again = api.post(f"/v1/jobs/{job_id}/partner-installed", json={})
            assert again.status_code == 409
            assert "not waiting for the third party" in again.json()["message"]
        [resumed] = [e for e in stack.app.store.history(job_id) if e.kind == "third_party_resumed"]
        assert resumed.detail["reason"] == "ticket 42"
        assert resumed.detail["actor"].startswith("token:")
    finally:
        stranger.stop()


def assert_never_broken(
    stack: RunningStack, message: str, undone: set[str], jobs: list[str]
) -> None:
    """Each row is off (naming nothing), or on the profile of a job not rolled back, whose
    profile and keystore exist and are active."""
    instance = stack.app.deps.instances.get("sandbox")
    serving = {profile_of(stack, j) for j in jobs if j not in undone}
    for row in rows(stack, message):
        if row["use_mutual_auth"] == "false":
            assert row["protocol_name"] == "" or row["protocol_name"] in serving, row
            continue
        assert row["protocol_name"] in serving, row
        assert instance.profile_in_use(row["protocol_name"]).problem == ""


@pytest.mark.slow
@pytest.mark.parametrize(
    "order",
    list(itertools.permutations(range(3))),
    ids=lambda order: "rollback-" + "".join("ABC"[i] for i in order),
)
def test_rollbacks_in_any_order_never_leave_a_broken_reference(
    stack: RunningStack, partner: ThirdPartyServer, order: tuple[int, ...]
) -> None:
    name = "Orders " + "".join(map(str, order))
    stack.sandbox.add_rest_message(name, partner.url)
    slug = "orders" + "".join(map(str, order))
    jobs = [submit(stack, name, partner, f"{slug}x{i}", replace=i > 0) for i in range(3)]
    assert [state(stack, j)[0] for j in jobs] == [JobState.SUCCEEDED] * 3
    undone: set[str] = set()
    for index in order:
        rollback(stack.app, jobs[index], actor="test", reason=f"order {order}")
        undone.add(jobs[index])
        assert_never_broken(stack, name, undone, jobs)
    assert {(r["use_mutual_auth"], r["protocol_name"]) for r in rows(stack, name)} == {
        ("false", "")
    }


def test_the_cli_shows_the_wait_and_says_installed(
    stack: RunningStack, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops.cli.main import main

    stranger = ThirdPartyServer([]).start()
    try:
        stack.sandbox.add_rest_message("Cli Partner API", stranger.url)
        job_id = submit(stack, "Cli Partner API", stranger, "clipartner")
        remote = ["--url", stack.gateway.url, "--token", stack.token]
        assert main(["status", job_id, *remote]) == 0
        shown = capsys.readouterr().out
        assert "waits for the third party to install our client certificate" in shown
        assert f"twoway resume {job_id} --installed" in shown
        assert main(["jobs", "--waiting", "--json", *remote]) == 0
        waiting = {w["job_id"]: w for w in json.loads(capsys.readouterr().out)}
        assert waiting[job_id]["waits_for"] == "third_party" and waiting[job_id]["deadline"]
        stranger.trust(client_cert(stack, job_id))
        assert main(["resume", job_id, "--installed", "--reason", "INC-1", *remote]) == 0
        wait_for(stack, job_id, JobState.SUCCEEDED)
        assert main(["resume", job_id, "--installed", *remote]) == 4  # not waiting any more
    finally:
        stranger.stop()


def test_the_workflow_signs_installed_for_its_job_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """POST /v1/jobs/{id}/partner-callback, signed over the job id with the secret of
    [third_party] callback_secret_env: a signature for another job or a second use is
    refused, and an unsigned call costs the job nothing."""
    from workers.callback_signing import signed_headers
    from workers.config import load_config

    secret = "s3cret-partner-callbacks"
    monkeypatch.setenv("TWOWAY_TEST_PARTNER_SECRET", secret)
    base = load_config()
    settings = base.third_party.model_copy(
        update={"callback_secret_env": "TWOWAY_TEST_PARTNER_SECRET"}
    )
    options = StackOptions(config=base.model_copy(update={"third_party": settings}))
    stranger = ThirdPartyServer([]).start()
    try:
        with Stack(options) as stack, httpx.Client(base_url=stack.gateway.url) as api:
            stack.sandbox.add_rest_message("Signed Partner API", stranger.url)
            job_id = submit(stack, "Signed Partner API", stranger, "signedpartner")
            other = submit(stack, "Signed Partner API", stranger, "signedpartner2", replace=True)
            assert state(stack, job_id)[0] is JobState.WAITING_FOR_THIRD_PARTY
            history = len(stack.app.store.history(job_id))
            body = json.dumps({"reason": "CHG-9 done"}).encode()
            path = f"/v1/jobs/{job_id}/partner-callback"
            wrong_job = signed_headers(secret.encode(), body, job_id=other)
            assert api.post(path, content=body, headers=wrong_job).status_code == 401
            unsigned = {"Content-Type": "application/json"}
            assert api.post(path, content=body, headers=unsigned).status_code == 401
            assert len(stack.app.store.history(job_id)) == history  # cost it nothing
            stranger.trust(client_cert(stack, job_id))
            headers = signed_headers(secret.encode(), body, job_id=job_id)
            said = api.post(path, content=body, headers=headers)
            assert said.status_code == 202, said.text
            assert api.post(path, content=body, headers=headers).status_code == 409  # used
            wait_for(stack, job_id, JobState.SUCCEEDED)
            [resumed] = [
                e for e in stack.app.store.history(job_id) if e.kind == "third_party_resumed"
            ]
            assert resumed.detail == {
                "source": "partner-callback",
                "actor": "workflow",
                "reason": "CHG-9 done",
            }
    finally:
        stranger.stop()


def test_a_gateway_without_the_secret_takes_no_signed_installed(
    stack: RunningStack, partner: ThirdPartyServer
) -> None:
    stack.sandbox.add_rest_message("Unsigned Partner API", partner.url)
    job_id = submit(stack, "Unsigned Partner API", partner, "unsignedpartner")
    with httpx.Client(base_url=stack.gateway.url) as api:
        answer = api.post(f"/v1/jobs/{job_id}/partner-callback", content=b"{}")
    assert answer.status_code == 403
    assert "takes no signed 'installed' calls" in answer.json()["message"]
