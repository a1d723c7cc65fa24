"""The operator's CLI against a stack on real RabbitMQ with worker processes: tokens,
``submit --wait`` with progress, ``replay`` after a fixed cause, ``cancel``. Each command
runs as its own process with the deployment's environment, as an operator's shell would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from messages import JobRequest, JobState
from ops.dev.stack import RunningStack

from .conftest import add_partners, job_for, wait_all

pytestmark = pytest.mark.e2e


def twoway(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    """``tokens`` opens the store (the deployment's environment); the rest need only the
    gateway's URL and a token."""
    env = {**stack.worker_environment(), "TWOWAY_URL": stack.gateway.url}
    env["TWOWAY_TOKEN"] = stack.token
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_tokens_are_made_listed_and_revoked(rabbit_stack: RunningStack) -> None:
    made = twoway(rabbit_stack, "tokens", "create", "--role", "read", "--name", "ci", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)
    assert token["token"].startswith(f"twoway_{token['id']}_")
    listed = twoway(rabbit_stack, "tokens", "list", "--json")
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows[token["id"]]["role"] == "read" and "token" not in rows[token["id"]]
    assert token["token"] not in listed.stdout
    table = twoway(rabbit_stack, "tokens", "list").stdout
    assert "role" in table.splitlines()[0] and token["id"] in table
    assert twoway(rabbit_stack, "tokens", "revoke", token["id"]).returncode == 0
    assert token["id"] not in twoway(rabbit_stack, "tokens", "list").stdout
    gone = twoway(rabbit_stack, "tokens", "revoke", token["id"])
    assert gone.returncode == 3 and "no active token" in gone.stderr  # not found


def test_submit_wait_shows_progress_then_replay_after_the_cause_is_fixed(
    rabbit_stack: RunningStack, tmp_path: Path
) -> None:
    (partner,) = add_partners(rabbit_stack, 1)
    request = tmp_path / "job.json"
    request.write_text(json.dumps(job_for(rabbit_stack, partner)))
    rabbit_stack.sandbox.forbid("sys_rest_message", "write")
    try:
        submitted = twoway(rabbit_stack, "submit", str(request), "--wait")
    finally:
        rabbit_stack.sandbox.allow("sys_rest_message", "write")
    assert submitted.returncode == 1, submitted.stderr  # failed
    lines = submitted.stdout.splitlines()
    assert any("[    ok] generate" in line for line in lines), submitted.stdout
    assert any("[FAILED] enable" in line and "403" in line for line in lines), submitted.stdout
    job_id = lines[0].split()[1]
    assert rabbit_stack.app.store.get_job(job_id).state is JobState.FAILED

    reason = "granted write on sys_rest_message"
    args = ("replay", job_id, "--stage", "enable", "--reason", reason, "--wait", "--json")
    replayed = twoway(rabbit_stack, *args)
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["state"] == "succeeded"
    assert "[replay] enable" in replayed.stderr and "[  done]" in replayed.stderr
    assert "[FAILED]" not in replayed.stderr  # progress shows this replay, not the past
    (event,) = [e for e in rabbit_stack.app.store.history(job_id) if e.kind == "replay_requested"]
    assert event.detail["actor"].startswith("token:twoway up (")
    assert event.detail["reason"] == reason

    again = twoway(rabbit_stack, "replay", job_id, "--stage", "enable", "--reason", "again")
    assert again.returncode == 4 and "only 'verify'" in again.stderr  # refused


def test_cancel_from_the_cli(rabbit_stack: RunningStack) -> None:
    (partner,) = add_partners(rabbit_stack, 1)
    request = JobRequest.model_validate(job_for(rabbit_stack, partner))
    idle, _ = rabbit_stack.app.store.create_job(request)  # no message drives it
    cancelled = twoway(rabbit_stack, "cancel", idle.id, "--reason", "not needed", "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["state"] == "cancelled"
    assert wait_all(rabbit_stack, [idle.id], timeout=5) == {idle.id: JobState.CANCELLED}
    empty = twoway(rabbit_stack, "cancel", idle.id, "--reason", " ")
    assert empty.returncode == 2 and "reason" in empty.stderr
