"""Rollback leaves the sandbox instance as it was before the job (compared by dump)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from messages import JobAccepted, JobRequest, JobState, KeyType, Stage
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.e2e.conftest import UPDATE_STAMPS, dump_changes, local_ca, wait_all
from workers import pki
from workers.errors import ServiceNowRejected, StateConflict
from workers.levers.replay import replay
from workers.levers.rollback import RollbackReport, rollback


@pytest.fixture
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


def run_job(stack: RunningStack, **changes: Any) -> str:
    job, _ = stack.app.submit(stack.example_job(KeyType.EC256, **changes))
    wait_all(stack, [job.id], timeout=60)
    return job.id


def kinds(stack: RunningStack, job_id: str) -> list[str]:
    return [event.kind for event in stack.app.store.history(job_id)]


def assert_as_before(
    before: dict[str, list[dict[str, str]]],
    after: dict[str, list[dict[str, str]]],
    restored: set[str],
) -> None:
    """Equal but for the update stamps of the rows rollback wrote back (an update stamps
    time, user and mod count; every other column must hold its value from before)."""
    for table, change in dump_changes(before, after).items():
        assert change["added"] == [] and change["removed"] == [], (table, change)
        for sys_id, columns in change["changed"].items():
            assert sys_id in restored, (table, sys_id, columns)
            assert set(columns) <= UPDATE_STAMPS, (table, sys_id, columns)


def restored_ids(report: RollbackReport) -> set[str]:
    """The rows rollback wrote back (rather than deleted)."""
    return {step.sys_id for step in report.steps if step.action in ("restored", "pointed_back")}


@pytest.mark.parametrize("kind", ["rest-pem", "soap-der"])
def test_rollback_leaves_the_instance_as_before_the_job(stack: RunningStack, kind: str) -> None:
    changes: dict[str, Any] = {}
    if kind == "soap-der":
        der = pki.cert_to_der(pki.parse_certificates(stack.third_party.server_certificate_pem)[0])
        changes = {
            "target": {"kind": "soap", "name": "Ledger SOAP"},
            "server_certificate": {"der_b64": base64.b64encode(der).decode()},
        }
    before = stack.sandbox.dump()
    job_id = run_job(stack, **changes)
    assert stack.app.store.get_job(job_id).state is JobState.SUCCEEDED
    report = rollback(stack.app, job_id, actor="test", reason="the third party cancelled")
    after = stack.sandbox.dump()
    assert_as_before(before, after, restored_ids(report))
    undone = {(s.action, s.what) for s in report.steps}
    assert {("deleted", "profile"), ("deleted", "keystore"), ("deleted", "trust")} <= undone
    assert ("deactivated", "keystore") in undone and ("restored", "message") in undone
    assert all(step.action != "kept" for step in report.steps)
    # recorded: started, one event per undone thing, and the end; the job is cancelled
    history = kinds(stack, job_id)
    assert history[-len(report.steps) - 2 :] == [
        "rollback_started",
        *["undone"] * len(report.steps),
        "rolled_back",
    ]
    assert report.state is JobState.CANCELLED
    assert stack.app.store.get_job(job_id).state is JobState.CANCELLED
    # a second rollback is a no-op: nothing asked of the instance, nothing recorded
    calls = len(stack.sandbox.request_log)
    again = rollback(stack.app, job_id, actor="test", reason="twice")
    assert again.already_done and again.steps == report.steps
    assert len(stack.sandbox.request_log) == calls and stack.sandbox.dump() == after
    assert kinds(stack, job_id) == history


def test_restored_fields_hold_their_previous_values(stack: RunningStack) -> None:
    """A message that already had values of its own gets exactly those back."""
    client = stack.app.deps.instances.client("sandbox")
    [message] = client.query("sys_rest_message", {"name": "Payments API"})
    methods = client.query("sys_rest_message_fn", {"rest_message": message["sys_id"]})
    client.update("sys_rest_message", message["sys_id"], {"use_mutual_auth": "true"})
    client.update("sys_rest_message_fn", methods[0]["sys_id"], {"use_mutual_auth": "true"})
    before = stack.sandbox.dump()
    job_id = run_job(stack)
    report = rollback(stack.app, job_id, actor="test", reason="back to how it was")
    assert_as_before(before, stack.sandbox.dump(), restored_ids(report))
    rows = {r["sys_id"]: r for r in stack.sandbox.dump()["sys_rest_message_fn"]}
    assert rows[methods[0]["sys_id"]]["use_mutual_auth"] == "true"
    assert rows[methods[1]["sys_id"]]["use_mutual_auth"] == "false"


def test_a_shared_trust_record_and_a_rotated_profile(stack: RunningStack) -> None:
    """Job B rotates job A's profile onto its keystore and reuses A's trust record: rolling
    back B points the profile back and keeps the trust record; then rolling back A (nothing
    relies on the record any more) leaves the instance as it was before both."""
    before = stack.sandbox.dump()
    first = run_job(stack)
    after_first = stack.sandbox.dump()
    second = run_job(
        stack, keystore={"record_name": "twoway payments rotated", "alias": "twoway"}, rotate=True
    )
    assert stack.app.store.get_job(second).state is JobState.SUCCEEDED
    report = rollback(stack.app, second, actor="test", reason="rotation went wrong")
    steps = {(s.action, s.what): s for s in report.steps}
    first_keystore = stack.app.store.progress.get_output(first, Stage.UPLOAD_KEYSTORE)
    assert first_keystore is not None
    assert steps["pointed_back", "profile"].note in first_keystore.message
    assert ("deleted", "keystore") in steps and ("deleted", "profile") not in steps
    assert steps["kept", "trust"].note == "it existed before the job"
    assert_as_before(after_first, stack.sandbox.dump(), restored_ids(report))
    assert kinds(stack, second).count("rollback_kept") == 1

    report = rollback(stack.app, first, actor="test", reason="and the first one too")
    assert ("deleted", "trust") in {(s.action, s.what) for s in report.steps}
    assert_as_before(before, stack.sandbox.dump(), restored_ids(report))


def test_rolling_back_a_job_whose_profile_another_job_took_over_leaves_that_job_working(
    stack: RunningStack,
) -> None:
    """Out of order: A's profile now serves B's keystore, so A's rollback must leave the
    profile, the messages and the shared trust record to B, and remove only A's keystore."""
    first = run_job(stack)
    second = run_job(
        stack, keystore={"record_name": "twoway payments rotated", "alias": "twoway"}, rotate=True
    )
    before = stack.sandbox.dump()
    report = rollback(stack.app, first, actor="test", reason="the old one goes")
    done = {(s.action, s.what) for s in report.steps}
    assert done == {
        ("kept", "message"),
        ("kept", "method"),
        ("kept", "profile"),
        ("deactivated", "keystore"),
        ("deleted", "keystore"),
        ("kept", "trust"),
    }
    changes = dump_changes(before, stack.sandbox.dump())
    assert set(changes) == {"sys_certificate", "sys_attachment"}  # A's keystore, only
    assert (
        len(changes["sys_certificate"]["removed"]) == 1
        and not changes["sys_certificate"]["changed"]
    )
    replay(stack.app.runtime, second, Stage.VERIFY, reason="still working?", actor="test")
    wait_all(stack, [second], timeout=60)
    assert stack.app.store.get_job(second).state is JobState.SUCCEEDED
    handshakes = [e for e in stack.app.store.history(second) if e.kind == "handshake_succeeded"]
    assert len(handshakes) == 2


def test_a_trust_record_two_jobs_made_together_stays_while_either_relies_on_it(
    stack: RunningStack,
) -> None:
    """Two jobs for one server certificate both looked before either registered it (they
    ran at the same time): each counts as its maker, so only the last rollback removes it."""
    app = stack.app
    before = stack.sandbox.dump()
    first = run_job(stack)
    request = JobRequest.model_validate(
        stack.example_job(
            KeyType.EC256,
            keystore={"record_name": "twoway payments twin", "alias": "twoway"},
            protocol_profile={"name": "mauthtwin", "port": stack.third_party.port},
        )
    )
    twin, _ = app.store.create_job(request)
    app.store.artifacts.put_all(twin.id, {"trust_before": json.dumps({"sys_id": None}).encode()})
    app.runtime.send(Stage.GENERATE, JobAccepted(job_id=twin.id))
    wait_all(stack, [twin.id], timeout=60)
    assert app.store.get_job(twin.id).state is JobState.SUCCEEDED
    twin_report = rollback(app, twin.id, actor="test", reason="one of the twins")
    kept = [s for s in twin_report.steps if s.what == "trust"]
    assert [(s.action, s.note) for s in kept] == [("kept", f"other jobs rely on it: {first}")]
    first_report = rollback(app, first, actor="test", reason="the other twin")
    assert ("deleted", "trust") in {(s.action, s.what) for s in first_report.steps}
    restored = restored_ids(twin_report) | restored_ids(first_report)
    assert_as_before(before, stack.sandbox.dump(), restored)


def test_a_failed_job_is_rolled_back_too(stack: RunningStack) -> None:
    before = stack.sandbox.dump()
    stack.sandbox.forbid("sys_rest_message", "write")
    job_id = run_job(stack)
    job = stack.app.store.get_job(job_id)
    assert (job.state, job.stage) == (JobState.FAILED, Stage.ENABLE)
    # a 403 is permanent, and ServiceNow's message and detail reach the history
    [failed] = [e for e in stack.app.store.history(job_id) if e.kind == "stage_failed"]
    assert job.error is not None and failed.detail["status_code"] == 403
    assert failed.detail["sn_message"] == job.error["sn_message"] == "Operation Failed"
    assert failed.detail["sn_detail"] == "Error during update of sys_rest_message (Payments API)"
    assert "stage_retry" not in kinds(stack, job_id)
    stack.sandbox.allow("sys_rest_message", "write")
    report = rollback(stack.app, job_id, actor="test", reason="failed at enable")
    assert {(s.action, s.what) for s in report.steps} == {
        ("deleted", "profile"),
        ("deactivated", "keystore"),
        ("deleted", "keystore"),
        ("deleted", "trust"),
    }
    assert dump_changes(before, stack.sandbox.dump()) == {}


def test_a_rollback_that_fails_half_way_continues_when_run_again(stack: RunningStack) -> None:
    before = stack.sandbox.dump()
    job_id = run_job(stack)
    stack.sandbox.forbid("sys_certificate", "delete")
    with pytest.raises(ServiceNowRejected) as refused:
        rollback(stack.app, job_id, actor="test", reason="first try")
    assert refused.value.status_code == 403
    assert stack.app.store.get_job(job_id).state is JobState.SUCCEEDED
    assert kinds(stack, job_id)[-1] == "rollback_failed"
    stack.sandbox.allow("sys_certificate", "delete")
    report = rollback(stack.app, job_id, actor="test", reason="second try")
    assert not report.already_done and report.state is JobState.CANCELLED
    history = stack.app.store.history(job_id)
    restored = {e.detail["sys_id"] for e in history if e.detail.get("action") == "restored"}
    assert len(restored) == 4  # the message and its three methods, by the first try
    assert_as_before(before, stack.sandbox.dump(), restored)


def test_a_job_that_is_not_finished_is_refused(stack: RunningStack) -> None:
    store = stack.app.store
    request = JobRequest.model_validate(stack.example_job())
    job, _ = store.create_job(request)  # accepted; never sent to a worker
    with pytest.raises(StateConflict) as refused:
        rollback(stack.app, job.id, actor="test", reason="too early")
    assert "cancel it first" in refused.value.hint
    store.transition(job.id, kind="stage_started", state=JobState.RUNNING, stage=Stage.ENABLE)
    with pytest.raises(StateConflict) as refused:
        rollback(stack.app, job.id, actor="test", reason="too early")
    assert "running (at enable)" in refused.value.message
    assert "rollback_started" not in kinds(stack, job.id)


def test_a_job_whose_stage_still_holds_its_lease_is_refused(stack: RunningStack) -> None:
    """A cancelled job may still have a stage in flight: rollback waits for it to end."""
    job_id = run_job(stack)
    store = stack.app.store
    store.transition(job_id, kind="cancelled", state=JobState.CANCELLED)
    from datetime import timedelta

    assert store.progress.acquire(job_id, Stage.ENABLE, "a-worker", timedelta(minutes=1)) is None
    with pytest.raises(StateConflict) as refused:
        rollback(stack.app, job_id, actor="test", reason="while it runs")
    assert "held by a run of enable" in refused.value.message
    store.progress.release(job_id, "a-worker")
    assert rollback(stack.app, job_id, actor="test", reason="now").state is JobState.CANCELLED


def test_the_rollback_command(stack: RunningStack) -> None:
    before = stack.sandbox.dump()
    job_id = run_job(stack)
    command = [sys.executable, "-m", "ops", "rollback", job_id, "--reason", "by hand"]
    env = {**os.environ, "TWOWAY_URL": stack.gateway.url, "TWOWAY_TOKEN": stack.token}
    done = subprocess.run([*command, "--json"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    report = RollbackReport.model_validate(json.loads(done.stdout))
    assert report.state is JobState.CANCELLED and not report.already_done
    assert_as_before(before, stack.sandbox.dump(), restored_ids(report))
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "rolled back before; nothing changed" in again.stdout
    refused = subprocess.run(
        [sys.executable, "-m", "ops", "rollback", "0" * 32, "--reason", "x"],
        env=env,
        capture_output=True,
    )
    assert refused.returncode == 3 and b"no job" in refused.stderr  # not found
    unsaid = subprocess.run(
        [sys.executable, "-m", "ops", "rollback", job_id], env=env, capture_output=True
    )
    assert unsaid.returncode == 2 and b"--reason" in unsaid.stderr  # as cancel and replay


def test_a_third_party_that_never_trusted_us_does_not_matter_to_rollback(
    stack: RunningStack,
) -> None:
    """A job whose third party never accepted its certificate (it waits at enable, the
    message untouched) is undone whole."""
    stranger = ThirdPartyServer([]).start()
    try:
        stack.sandbox.add_rest_message("Stranger API", stranger.url)
        before = stack.sandbox.dump()
        job_id = run_job(
            stack,
            target={"kind": "rest", "name": "Stranger API"},
            server_certificate={"pem": stranger.server_certificate_pem.decode()},
            protocol_profile={"name": "mauthstranger", "port": stranger.port},
        )
        job = stack.app.store.get_job(job_id)
        assert (job.state, job.stage) == (JobState.WAITING_FOR_THIRD_PARTY, Stage.ENABLE)
        report = rollback(stack.app, job_id, actor="test", reason="they said no")
        assert_as_before(before, stack.sandbox.dump(), restored_ids(report))
        assert local_ca(stack).issued_count() == 1
    finally:
        stranger.stop()
