"""Replay over real HTTP: a job that failed at ``enable`` (the instance answered 403) is
replayed after the cause is fixed and succeeds; replays that would mint a new key need
``force``; a succeeded job replays only ``verify``; every refusal says why."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

import httpx
from cryptography import x509

from messages import JobState
from ops.dev.stack import RunningStack

from .conftest import events, fresh_job, wait_for

FIX = "granted the integration user write access to sys_rest_message"


def failed_at_enable(stack: RunningStack, api: httpx.Client, operator: dict[str, str]) -> str:
    """A job that failed at enable because the instance refused the write with 403."""
    request = fresh_job(stack)
    stack.sandbox.forbid("sys_rest_message", "write")
    try:
        job_id = str(api.post("/v1/jobs", json=request, headers=operator).json()["job_id"])
        job = wait_for(stack, job_id, JobState.FAILED, JobState.SUCCEEDED)
    finally:
        stack.sandbox.allow("sys_rest_message", "write")  # the cause, fixed
    assert job.state is JobState.FAILED and job.stage is not None
    assert job.stage.value == "enable" and job.error and job.error["status_code"] == 403
    return job_id


def history(api: httpx.Client, job_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = api.get(f"/v1/jobs/{job_id}", headers=headers)
    assert answer.status_code == 200
    found: list[dict[str, Any]] = answer.json()["history"]
    return found


def test_a_job_failed_at_enable_succeeds_when_enable_is_replayed_with_a_reason(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str], reader: dict[str, str]
) -> None:
    job_id = failed_at_enable(stack, api, operator)
    answer = api.post(
        f"/v1/jobs/{job_id}/replay", json={"stage": "enable", "reason": FIX}, headers=operator
    )
    assert answer.status_code == 202
    assert answer.json()["state"] == "running" and answer.json()["stage"] == "enable"
    assert wait_for(stack, job_id, JobState.SUCCEEDED, JobState.FAILED).state is JobState.SUCCEEDED

    events_ = history(api, job_id, reader)
    at = {(e["kind"], e["stage"]): i for i, e in enumerate(events_)}
    started = [e for e in events_ if e["kind"] == "stage_started" and e["stage"] == "enable"]
    assert len(started) == 2  # both attempts are in the history
    assert (
        at[("stage_failed", "enable")]
        < at[("replay_requested", "enable")]
        < at[("stage_completed", "enable")]
        < at[("job_succeeded", "verify")]
    )
    failure = next(e for e in events_ if e["kind"] == "stage_failed")
    assert failure["detail"]["status_code"] == 403
    replayed = next(e for e in events_ if e["kind"] == "replay_requested")
    assert replayed["detail"]["reason"] == FIX and replayed["detail"]["force"] is False
    assert replayed["detail"]["actor"].startswith("token:twoway up")
    assert replayed["detail"]["from_state"] == "failed"
    earlier = [e for e in events_ if e["kind"] == "stage_started" and e["stage"] == "generate"]
    assert len(earlier) == 1  # the stages before enable did not run again
    assert api.get(f"/v1/jobs/{job_id}", headers=reader).json()["attempts"]["enable"] == 2


def test_replaying_before_import_chain_on_a_job_with_a_certificate_needs_force(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    job_id = failed_at_enable(stack, api, operator)
    before = api.get(f"/v1/jobs/{job_id}/client-certificate", headers=operator).content
    body = {"stage": "generate", "reason": "the key was exposed; start over"}

    refused = api.post(f"/v1/jobs/{job_id}/replay", json=body, headers=operator)
    assert refused.status_code == 409
    assert "already holds a certificate" in refused.json()["message"]
    assert "new key" in refused.json()["message"] and "force" in refused.json()["hint"]
    assert stack.app.store.get_job(job_id).state is JobState.FAILED
    assert events(stack, job_id, "replay_requested") == []

    forced = api.post(f"/v1/jobs/{job_id}/replay", json={**body, "force": True}, headers=operator)
    assert forced.status_code == 202
    assert wait_for(stack, job_id, JobState.SUCCEEDED, JobState.FAILED).state is JobState.SUCCEEDED

    after = api.get(f"/v1/jobs/{job_id}/client-certificate", headers=operator).content
    old, new = x509.load_pem_x509_certificate(before), x509.load_pem_x509_certificate(after)
    assert old.public_key() != new.public_key() and old.serial_number != new.serial_number
    (replayed,) = events(stack, job_id, "replay_requested")
    assert replayed["detail"]["force"] is True
    assert {"private_key", "csr", "certificate", "keystore"} <= set(replayed["detail"]["dropped"])
    name = stack.app.store.get_job(job_id).request.keystore.record_name
    records = [r for r in stack.sandbox.dump()["sys_certificate"] if r.get("name") == name]
    assert len(records) == 1 and records[0]["active"] == "true"  # replaced, not duplicated


def test_a_succeeded_job_replays_verify_only(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    job_id = api.post("/v1/jobs", json=fresh_job(stack), headers=operator).json()["job_id"]
    wait_for(stack, job_id, JobState.SUCCEEDED)
    body = {"stage": "enable", "reason": "again"}
    refused = api.post(f"/v1/jobs/{job_id}/replay", json=body, headers=operator)
    assert refused.status_code == 409 and "only 'verify'" in refused.json()["message"]
    body = {"stage": "verify", "reason": "the third party installed our certificate"}
    assert api.post(f"/v1/jobs/{job_id}/replay", json=body, headers=operator).status_code == 202
    assert wait_for(stack, job_id, JobState.SUCCEEDED, JobState.FAILED).state is JobState.SUCCEEDED
    assert [e["stage"] for e in events(stack, job_id, "replay_requested")] == ["verify"]
    assert len(events(stack, job_id, "job_succeeded")) == 2


def test_replay_refusals_say_why(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    job_id = failed_at_enable(stack, api, operator)
    skip = {"stage": "verify", "reason": "skip enable"}
    skipped = api.post(f"/v1/jobs/{job_id}/replay", json=skip, headers=operator)
    assert skipped.status_code == 409 and "would skip it" in skipped.json()["message"]
    for body, status, word in [
        ({"stage": "enable", "reason": ""}, 422, "reason"),
        ({"stage": "enable", "reason": " "}, 400, "reason"),
        ({"stage": "enable", "reason": "x" * 501}, 422, "reason"),
        ({"stage": "sleep", "reason": "x"}, 422, "stage"),
        ({"stage": "enable", "reason": "x", "when": "now"}, 422, "when"),
    ]:
        answer = api.post(f"/v1/jobs/{job_id}/replay", json=body, headers=operator)
        assert answer.status_code == status and word in answer.json()["message"], body
    assert stack.app.store.get_job(job_id).state is JobState.FAILED  # nothing changed
    unknown = api.post(f"/v1/jobs/{'d' * 32}/replay", json=skip, headers=operator)
    assert unknown.status_code == 404
    idle, _ = stack.app.store.create_job(stack.app.store.get_job(job_id).request)
    running = api.post(f"/v1/jobs/{idle.id}/replay", json=skip, headers=operator)
    assert running.status_code == 409
    assert "only a failed or stalled job" in running.json()["message"]


def test_two_replays_at_once_one_wins(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    job_id = failed_at_enable(stack, api, operator)
    start = Barrier(2)

    def post(reason: str) -> int:
        with httpx.Client(base_url=stack.gateway.url, timeout=60) as client:
            start.wait()
            body = {"stage": "enable", "reason": reason}
            return client.post(f"/v1/jobs/{job_id}/replay", json=body, headers=operator).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(post, ["first operator", "second operator"]))
    assert statuses == [202, 409]
    assert wait_for(stack, job_id, JobState.SUCCEEDED, JobState.FAILED).state is JobState.SUCCEEDED
    assert len(events(stack, job_id, "replay_requested")) == 1
    completed = [e for e in events(stack, job_id, "stage_completed") if e["stage"] == "enable"]
    assert len(completed) == 1
