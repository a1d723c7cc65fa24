"""The CLI's exit codes are docs/api.md's table: every code there is a constant of
ops/cli/client.py and back; one rule maps the gateway's answers and the CLI's own errors
to them. Each refusal below runs as a real ``twoway`` process against a running stack
and ends in one line on stderr; ``cancel`` says when a job's records stay on the
instance, and how to remove them."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from messages import JobState, KeyType
from ops.cli import client
from ops.cli.client import EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, exit_code
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from ops.gateway.status import status_for
from ops.views.jobview import follow
from tests.factories import OpensslCa
from tests.ops.gateway.test_ca_callback import csr_of, expired_certificate, paused_job
from workers import errors

ROOT = Path(__file__).resolve().parents[3]


def documented_codes() -> dict[int, str]:
    """The exit-code table of docs/api.md: code -> meaning."""
    text = (ROOT / "docs" / "api.md").read_text()
    table = text.split("Exit codes:", 1)[1].strip().split("\n\n", 1)[0]
    return {int(c): m for c, m in re.findall(r"^\| (\d+) \| (.+?) \|$", table, re.MULTILINE)}


def test_the_documented_table_is_the_constants_and_back() -> None:
    constants = {n: v for n, v in vars(client).items() if re.fullmatch(r"EXIT_[A-Z_]+", n)}
    assert sorted(documented_codes()) == sorted(constants.values()) == list(range(8))
    assert set(constants) <= set(client.__all__)


def test_no_command_makes_up_a_code_of_its_own() -> None:
    for path in (ROOT / "ops" / "cli").rglob("*.py"):
        if path.name != "client.py":
            own = re.findall(r"^EXIT_\w+ = ", path.read_text(), re.MULTILINE)
            assert not own, f"{path}: {own} (exit codes live in ops/cli/client.py)"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.RequestInvalid("a field"), EXIT_USAGE),
        (errors.ConfigError("a setting"), EXIT_USAGE),
        (errors.JobNotFound("no job"), EXIT_NOT_FOUND),
        (errors.InstanceNotFound("no instance"), EXIT_NOT_FOUND),
        (errors.TakeOverRefused("in use"), EXIT_REFUSED),
        (errors.StateConflict("moved"), EXIT_REFUSED),
        (errors.CertificateRejected("expired"), EXIT_REFUSED),
        (errors.PermissionDenied("read token"), EXIT_REFUSED),
        (errors.StoreUnavailable("failover"), client.EXIT_UNREACHABLE),
    ],
)
def test_an_error_has_the_code_of_the_gateways_answer_to_it(
    error: errors.TwowayError, code: int
) -> None:
    assert exit_code(status_for(error), type(error).__name__) == code


# -- as real processes, against a running stack -------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


@pytest.fixture(scope="module")
def stranger() -> Iterator[ThirdPartyServer]:
    """A third party that trusts no client certificate: a job waits at enable for it."""
    with ThirdPartyServer([]) as server:
        yield server


def twoway(stack: RunningStack, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """``twoway ARGS`` in the deployment's environment (``tokens`` opens the store), with
    the gateway's URL and the operator token."""
    env = {**stack.worker_environment(), "TWOWAY_URL": stack.gateway.url}
    env["TWOWAY_TOKEN"] = stack.token
    return subprocess.run(
        [sys.executable, "-m", "ops", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str], code: int, *says: str) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for words in says:
        assert words in lines[0], lines[0]
    return lines[0]


def test_a_ca_callback_whose_certificate_fails_its_checks_is_refused(
    stack: RunningStack, tmp_path: Path
) -> None:
    ca = OpensslCa(tmp_path / "ca")
    job_id = paused_job(stack)
    spec = {
        "url": f"{stack.gateway.url}/v1/jobs/{job_id}/ca-callback",
        "secret": stack.callback_secret().decode(),
    }
    (tmp_path / "callback.json").write_text(json.dumps(spec))
    (tmp_path / "cert.pem").write_bytes(expired_certificate(ca, csr_of(stack, job_id)))
    (tmp_path / "chain.pem").write_bytes(ca.chain_pem)
    done = twoway(stack, "ca-callback", tmp_path / "callback.json",
                  "--cert", tmp_path / "cert.pem", "--chain", tmp_path / "chain.pem")  # fmt: skip
    one_line(done, EXIT_REFUSED, "twoway ca-callback: ", "validity")
    assert stack.app.store.get_job(job_id).state is JobState.WAITING_FOR_CA


def test_revoking_a_token_that_does_not_exist_is_not_found(stack: RunningStack) -> None:
    done = twoway(stack, "tokens", "revoke", "nobody-by-this-name")
    one_line(done, EXIT_NOT_FOUND, "twoway tokens: ", "no active token", "'nobody-by-this-name'")
    done = twoway(stack, "tokens", "revoke", "nobody", "--json")
    as_json = json.loads(one_line(done, EXIT_NOT_FOUND))
    assert as_json["error"] == "TokenNotFound" and "tokens list" in as_json["hint"]


def test_a_submit_that_would_take_over_a_message_in_use_is_a_conflict(
    stack: RunningStack, tmp_path: Path
) -> None:
    name, tag = "Live Exit API", secrets.token_hex(4)
    stack.sandbox.add_live_rest_message(name, stack.third_party.url, protocol="mauthliveexit")
    request = tmp_path / "job.json"
    request.write_text(json.dumps(unique_job(stack, tag, target={"kind": "rest", "name": name})))
    done = twoway(stack, "submit", request)
    one_line(done, EXIT_REFUSED, "twoway submit: ", "already uses mutual authentication",
             "'mauthliveexit'", '"replace": true')  # fmt: skip
    as_json = json.loads(one_line(twoway(stack, "submit", request, "--json"), EXIT_REFUSED))
    assert as_json["error"] == "TakeOverRefused"
    assert all(j.request.target.name != name for j in stack.app.store.list_jobs(limit=200))


def unique_job(stack: RunningStack, tag: str, **changes: Any) -> dict[str, Any]:
    """A job request with a keystore record and protocol profile of its own."""
    mine = {
        "keystore": {"record_name": f"twoway exit {tag}", "alias": "twoway"},
        "protocol_profile": {"name": f"mauth{tag}", "port": stack.third_party.port},
    }
    return stack.example_job(KeyType.EC256, **{**mine, **changes})


def test_cancel_says_when_records_stay_on_the_instance_and_how_to_remove_them(
    stack: RunningStack, stranger: ThirdPartyServer
) -> None:
    tag = secrets.token_hex(4)
    stack.sandbox.add_rest_message(f"Stranger {tag}", stranger.url)
    job, _ = stack.app.submit(
        unique_job(
            stack,
            tag,
            target={"kind": "rest", "name": f"Stranger {tag}"},
            server_certificate={"pem": stranger.server_certificate_pem.decode()},
            protocol_profile={"name": f"mauth{tag}", "port": stranger.port},
        )
    )
    waits = follow(
        stack.app.store,
        job.id,
        lambda _: None,
        timeout=120,
        until=lambda j: j.state is JobState.WAITING_FOR_THIRD_PARTY or j.terminal,
    )
    assert waits.state is JobState.WAITING_FOR_THIRD_PARTY, waits.error
    done = twoway(stack, "cancel", job.id, "--reason", "the partner went elsewhere")
    assert done.returncode == EXIT_OK, done.stderr
    said = done.stdout.splitlines()
    assert said[0] == f"job {job.id}: cancelled"
    assert "its records stay on instance 'sandbox'" in said[1]
    assert f"twoway rollback {job.id} --reason" in said[1]
    again = twoway(stack, "cancel", job.id, "--reason", "asked twice", "--json")
    answer = json.loads(again.stdout)
    assert {r["what"] for r in answer["left_on_instance"]} == {"keystore", "trust", "profile"}
    assert f"twoway rollback {job.id} --reason" in answer["next_step"]


def test_cancel_of_a_job_with_nothing_on_the_instance_says_nothing_more(
    stack: RunningStack,
) -> None:
    job_id = paused_job(stack)  # waits for its CA: nothing made on the instance yet
    done = twoway(stack, "cancel", job_id, "--reason", "not needed")
    assert (done.returncode, done.stdout) == (EXIT_OK, f"job {job_id}: cancelled\n"), done.stderr
    answer = json.loads(twoway(stack, "cancel", job_id, "--reason", "again", "--json").stdout)
    assert answer["left_on_instance"] == [] and answer["next_step"] is None
