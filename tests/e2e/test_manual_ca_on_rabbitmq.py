"""The manual CA on real RabbitMQ: paused jobs hold no message and no worker; CA
callbacks (signed by openssl, a CA twoway never heard of) and the operator's
``twoway resume`` finish them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from messages import JobState
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.rabbitmq.chores import queue_depths, stage_queue_names
from tests.conftest import AMQP_URL
from tests.e2e.conftest import Partner, add_partners, job_for, wait_all
from tests.e2e.test_pipeline_on_rabbitmq import check_instance
from tests.factories import OpensslCa
from workers.callback_signing import signed_headers


@pytest.fixture
def stack() -> Iterator[RunningStack]:
    """Workers are started by the tests, so that they can stop them."""
    with Stack(StackOptions(broker="rabbitmq", worker_processes=0)) as running:
        yield running


def workers(stack: RunningStack, count: int = 2) -> list[subprocess.Popen[bytes]]:
    return [stack.spawn_worker("--threads", "4") for _ in range(count)]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        assert process.wait(timeout=30) == 0


def manual_job(stack: RunningStack, partner: Partner) -> dict[str, Any]:
    return {**job_for(stack, partner), "ca": {"profile": "manual"}}


def wait_until_waiting(stack: RunningStack, job_ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = Counter(stack.app.store.get_job(job_id).state for job_id in job_ids)
        if states == Counter({JobState.WAITING_FOR_CA: len(job_ids)}):
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.25)


def test_fifty_paused_jobs_hold_nothing_and_finish_on_their_callbacks(
    stack: RunningStack, tmp_path: Path
) -> None:
    app = stack.app
    ca = OpensslCa(tmp_path / "ca")
    partners = add_partners(stack, 50)
    for partner in partners:
        partner.server.trust(ca.root_pem)  # the third parties install the CA's root
    running = workers(stack)
    with ThreadPoolExecutor(8) as pool:
        submitted = list(pool.map(lambda p: app.submit(manual_job(stack, p))[0].id, partners))
    jobs = dict(zip(submitted, partners, strict=True))
    wait_until_waiting(stack, submitted)

    stop(running)  # a message held by a worker would now be back in its queue
    depths = queue_depths(AMQP_URL, stage_queue_names(stack.queues))
    assert len(depths) == 27 and set(depths.values()) == {0}, depths
    assert {app.store.get_job(j).ca_request_id for j in jobs} == {f"manual-{j}" for j in jobs}

    workers(stack)
    token = {"Authorization": f"Bearer {stack.token}"}
    secret = stack.callback_secret()

    def sign_and_call_back(job_id: str) -> int:
        base = f"{stack.gateway.url}/v1/jobs/{job_id}"
        csr = httpx.get(f"{base}/csr", headers=token, timeout=30).content
        body = json.dumps(
            {"certificate": ca.sign(csr).decode(), "chain": ca.chain_pem.decode()}
        ).encode()
        headers = signed_headers(secret, body, job_id=job_id)
        answer = httpx.post(f"{base}/ca-callback", content=body, headers=headers, timeout=30)
        return answer.status_code

    with ThreadPoolExecutor(8) as pool:
        assert Counter(pool.map(sign_and_call_back, submitted)) == Counter({202: 50})
    states = wait_all(stack, submitted, timeout=300)
    assert Counter(states.values()) == Counter({JobState.SUCCEEDED: 50}), {
        j: app.store.get_job(j).error for j, s in states.items() if s is not JobState.SUCCEEDED
    }
    check_instance(stack, jobs)
    for job_id, partner in jobs.items():
        assert app.store.artifacts.get(job_id, "ca_chain_pem") == ca.chain_pem
        assert partner.server.requests_served >= 1  # verify handshook with the CA's cert
        partner.server.stop()


def twoway(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ops", *args]
    env = {**stack.worker_environment(), "TWOWAY_URL": stack.gateway.url}
    env["TWOWAY_TOKEN"] = stack.token  # the gateway is all the CLI needs
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_an_operator_lists_and_resumes_a_paused_job_with_the_cli(
    stack: RunningStack, tmp_path: Path
) -> None:
    ca = OpensslCa(tmp_path / "ca")
    [partner] = add_partners(stack, 1)
    partner.server.trust(ca.root_pem)
    workers(stack, 1)
    job, _ = stack.app.submit(manual_job(stack, partner))
    wait_until_waiting(stack, [job.id])

    listed = twoway(stack, "jobs", "--waiting", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [r for r in json.loads(listed.stdout) if r["job_id"] == job.id]
    since = datetime.fromisoformat(row["waiting_since"])
    assert row["request_id"] == f"manual-{job.id}" and row["ca_profile"] == "manual"
    assert datetime.fromisoformat(row["deadline"]) == since + timedelta(days=14)

    csr = stack.app.store.artifacts.get(job.id, "csr")
    assert csr is not None
    bundle = tmp_path / "signed.pem"  # the leaf followed by its chain, as CAs often send it
    bundle.write_bytes(ca.sign(csr) + ca.chain_pem)
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(OpensslCa(tmp_path / "other").chain_pem)

    refused = twoway(stack, "resume", job.id, "--cert", str(bundle), "--chain", str(stranger))
    assert refused.returncode == 4  # refused
    assert "chain: no certificate in the chain issued" in refused.stderr
    assert stack.app.store.get_job(job.id).state is JobState.WAITING_FOR_CA

    resumed = twoway(stack, "resume", job.id, "--cert", str(bundle))
    assert resumed.returncode == 0, resumed.stderr
    assert wait_all(stack, [job.id]) == {job.id: JobState.SUCCEEDED}
    history = stack.app.store.history(job.id)
    [rejection] = [e for e in history if e.kind == "certificate_rejected"]
    [resume] = [e for e in history if e.kind == "ca_resumed"]
    assert rejection.detail["source"] == "api"
    assert resume.detail["source"] == "api"
    assert resume.detail["actor"].startswith("token:twoway up (")
    partner.server.stop()
