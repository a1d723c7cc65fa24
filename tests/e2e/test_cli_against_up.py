"""The operator's CLI against ``twoway up``, as a new user meets it: ``up`` runs as a
process and writes a context file; every operator command runs as its own process that
knows only that file (no store, broker or master key in its environment).

On the stub broker and on RabbitMQ: a job whose verify message is lost twice (chaos) is
found stalled by the sweeper and replayed to success; cancel of a succeeded job is
refused toward rollback; jobs, status, certificates, renew, rollback, csr and resume of
a manual-CA job, dead letters, login, and the exit codes of the table in docs/api.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import OpensslCa

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FAST_SWEEP = """
[broker]
sweep_every_s = 1
sweep_quiet_s = 2
"""


def _clean_env(context: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOWAY_")}
    return {**env, "TWOWAY_CONTEXT": str(context)}


class Up:
    def __init__(self, tmp_path: Path, broker: str) -> None:
        self.context = tmp_path / "context.json"
        config = tmp_path / "pipeline.toml"
        shipped = (Path(__file__).parents[2] / "workers" / "pipeline.toml").read_text()
        config.write_text(shipped.replace("[broker]\n", FAST_SWEEP.lstrip(), 1))
        env = {
            **_clean_env(self.context),
            "TWOWAY_CONFIG": str(config),
            "TWOWAY_CHAOS": "lose-messages:verify:2",  # the first job's verify, and its re-send
        }
        if "TWOWAY_BROKER_URL" in os.environ:
            env["TWOWAY_BROKER_URL"] = os.environ["TWOWAY_BROKER_URL"]
        command = [sys.executable, "-m", "ops", "up", "--broker", broker, "--workers", "1"]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        self.info: dict[str, Any] = json.loads(self.process.stdout.readline())
        self.tmp = tmp_path

    def cli(self, *args: str, context: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = _clean_env(context or self.context)
        return subprocess.run(
            [sys.executable, "-m", "ops", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def json(self, *args: str) -> Any:
        done = self.cli(*args, "--json")
        assert done.returncode == 0, (args, done.stderr)
        return json.loads(done.stdout)

    def until(self, job_id: str, ok: Any, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.json("status", job_id)
            if ok(job):
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.5)

    def submit(self, request: dict[str, Any], name: str) -> str:
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(request))
        return str(self.json("submit", str(path))["job_id"])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


@pytest.fixture(params=["stub", "rabbitmq"])
def up(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Up]:
    if request.param == "rabbitmq":
        request.getfixturevalue("rabbitmq_is_up")
    stack = Up(tmp_path, request.param)
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.stop()


def test_every_operator_command_through_the_context_up_wrote(up: Up, tmp_path: Path) -> None:
    assert up.context.stat().st_mode & 0o777 == 0o600
    assert up.info["context"] == str(up.context)
    example = up.info["example_job"]

    # A job whose verify message is lost, and then the sweeper's re-send: found stalled.
    stalled_id = up.submit(example, "stalled")
    stalled = up.until(stalled_id, lambda j: j["stalled"] is not None)
    assert stalled["state"] == "running" and stalled["stalled"]["stage"] == "verify"
    assert "no worker took the re-sent message" in stalled["stalled"]["reason"]
    assert "stalled: no worker took" in up.cli("status", stalled_id).stdout
    replay = ("replay", stalled_id, "--stage", "verify", "--reason", "lost message")
    replayed = up.cli(*replay, "--wait", "--timeout", "60", "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["state"] == "succeeded"
    assert "[replay] verify" in replayed.stderr and "by token:twoway up (" in replayed.stderr

    # A succeeded job is not cancelled: its certificate is live; rollback is the way.
    refused = up.cli("cancel", stalled_id, "--reason", "oops", "--json")
    assert refused.returncode == 4
    assert "rollback" in json.loads(refused.stderr)["hint"]
    listed = {j["job_id"]: j for j in up.json("jobs", "--limit", "10")}
    assert listed[stalled_id]["state"] == "succeeded"
    assert stalled_id in {c["job_id"] for c in up.json("certificates")}

    # Renew, then roll the renewal back.
    renewal = up.json("renew", stalled_id, "--reason", "early")
    assert renewal["created"] is True and renewal["renews"] == stalled_id
    up.until(renewal["job_id"], lambda j: j["state"] == "succeeded")
    report = up.json("rollback", renewal["job_id"], "--reason", "test")
    assert report["job_id"] == renewal["job_id"] and report["state"] == "cancelled"

    # A manual-CA job: listed as waiting, its next step shown, CSR out, certificate in.
    manual = {
        **example,
        "ca": {"profile": "manual"},  # a keystore of its own: the first job's exists
        "keystore": {"record_name": "twoway manual client", "alias": "twoway"},
        "rotate": True,  # onto the profile the first job made, as a renewal does
    }
    manual_id = up.submit(manual, "manual")
    up.until(manual_id, lambda j: j["state"] == "waiting_for_ca")
    assert manual_id in {w["job_id"] for w in up.json("jobs", "--waiting")}
    assert f"twoway csr {manual_id}" in up.cli("status", manual_id).stdout
    csr = tmp_path / "csr.pem"
    assert up.cli("csr", manual_id, "--out", str(csr)).returncode == 0
    ca = OpensslCa(tmp_path / "ca")
    signed = tmp_path / "signed.pem"
    signed.write_bytes(ca.sign(csr.read_bytes()) + ca.chain_pem)
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(OpensslCa(tmp_path / "other").chain_pem)
    wrong = up.cli("resume", manual_id, "--cert", str(signed), "--chain", str(stranger))
    assert wrong.returncode == 4 and "chain" in wrong.stderr
    assert up.cli("resume", manual_id, "--cert", str(signed)).returncode == 0
    up.until(manual_id, lambda j: j["state"] != "waiting_for_ca")

    # Dead letters: RabbitMQ keeps them (none here); the stub broker keeps none.
    letters = up.cli("dead-letters", "list", "--json")
    nothing = up.cli("dead-letters", "replay", "--all", "--reason", "try")
    if up.info["broker"] == "rabbitmq":
        assert letters.returncode == 0 and json.loads(letters.stdout)["count"] == 0
        assert nothing.returncode == 3 and "no dead letter matched" in nothing.stderr
    else:
        assert letters.returncode == 4 and "stub broker" in letters.stderr

    # Errors a script can read.
    assert up.cli("status", "0" * 32).returncode == 3
    assert up.cli("jobs", "--limit", "0").returncode == 2
    assert up.cli("submit", str(tmp_path)).returncode == 2
    unreachable = up.cli("jobs", "--url", "http://127.0.0.1:9", "--json")
    assert unreachable.returncode == 6
    assert json.loads(unreachable.stderr)["error"] == "GatewayUnreachable"

    # login writes another context (0600) that works the same.
    other = tmp_path / "other-context.json"
    env_login = up.cli("login", up.info["gateway"], "--token", up.info["token"], context=other)
    assert env_login.returncode == 0, env_login.stderr
    assert other.stat().st_mode & 0o777 == 0o600
    assert up.cli("status", stalled_id, context=other).returncode == 0

    up.stop()
    assert not up.context.exists()  # up's context goes with its stack
    gone = up.cli("status", stalled_id, context=other)
    assert gone.returncode == 6
