"""Paused jobs: what M jobs parked at wait-for-ca cost, and how fast callbacks resume them."""

from __future__ import annotations

import json
import multiprocessing
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta

import httpx
from cryptography.hazmat.primitives.serialization import Encoding

from messages import JobState, KeyType
from ops.bench.phases import progress
from ops.bench.procstat import cpu_seconds, rabbitmq_pid, thread_cpu_seconds
from ops.dev.stack import RunningStack
from ops.rabbitmq.chores import queue_depths, stage_queue_names
from workers.callback_signing import job_id_in, signed_headers
from workers.pki import Authority, cert_to_pem, general_names, subject_name
from workers.store.artifacts import Artifact

__all__ = ["PausedResult", "run_paused_phase"]

IDLE_S = 10.0
SETTLE_S = 5.0


@dataclass
class PausedResult:
    jobs: int
    broker_messages: int
    idle_cpu_pct: float
    broker_idle_cpu_pct: float
    resume_s: float
    resumed: int
    gateway_processes: int


def _park(stack: RunningStack, count: int, key: KeyType) -> list[str]:
    ids = []
    for index in range(count):
        raw = stack.example_job(key, ca={"profile": "manual"})
        raw["keystore"] = {"record_name": f"twoway paused {index}", "alias": "twoway"}
        ids.append(stack.app.submit(raw)[0].id)
    store = stack.app.store
    while True:
        waiting = store.count_jobs().get(JobState.WAITING_FOR_CA.value, 0)
        progress(waiting, count, "parking")
        if waiting >= count:
            return ids
        time.sleep(0.5)


def _idle_cpu_pct(stack: RunningStack) -> tuple[float, float]:
    """twoway's CPU while M jobs wait (workers, gateway and poller threads), and the
    broker's; the sandbox and third party in this process are the environment, not us."""
    pids = [p.pid for p in stack.processes if p.poll() is None]
    threads = [t.native_id for t in (stack.gateway.thread, stack.poller_thread) if t]
    broker = rabbitmq_pid()

    def ours() -> float:
        own = sum(thread_cpu_seconds(tid) for tid in threads if tid is not None)
        return sum(cpu_seconds(pid) for pid in pids) + own

    before, broker_before = ours(), cpu_seconds(broker) if broker else 0.0
    time.sleep(IDLE_S)
    broker_cpu = (cpu_seconds(broker) - broker_before) if broker else 0.0
    return (ours() - before) / IDLE_S * 100, broker_cpu / IDLE_S * 100


def _callbacks(stack: RunningStack, ids: list[str]) -> list[tuple[str, bytes]]:
    """Sign every job's CSR with a CA of the 'operator', before the clock starts (the
    HMAC, which carries a timestamp, is made as each callback is sent)."""
    ca = Authority.new_root("bench operator CA").new_intermediate("bench operator issuing")
    stack.third_party.trust(ca.chain[-1].public_bytes(Encoding.PEM))
    chain = b"".join(cert_to_pem(c) for c in ca.chain)
    out = []
    for job_id in ids:
        csr = stack.app.store.artifacts.get(job_id, Artifact.CSR)
        request = stack.app.store.get_job(job_id).request
        assert csr is not None
        leaf = ca.issue(
            csr,
            subject_name(request.subject),
            sans=general_names(request.dns_sans),
            validity=timedelta(days=30),
        )
        body = json.dumps({"certificate": cert_to_pem(leaf).decode(), "chain": chain.decode()})
        out.append((f"/v1/jobs/{job_id}/ca-callback", body.encode()))
    return out


CLIENTS = 2


def _post_all(base: str, callbacks: list[tuple[str, bytes]], secret: bytes) -> list[int]:
    """One CA client process: post its share of callbacks, 4 at a time; their statuses."""
    with httpx.Client(base_url=base, timeout=120) as client, ThreadPoolExecutor(4) as threads:

        def post(callback: tuple[str, bytes]) -> int:
            url, body = callback
            headers = signed_headers(secret, body, job_id=job_id_in(url))
            return client.post(url, content=body, headers=headers).status_code

        return list(threads.map(post, callbacks))


@contextmanager
def _gateway_process(stack: RunningStack, processes: int) -> Iterator[str]:
    """``twoway gateway --processes N`` on a free port with the stack's environment; its
    base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "ops", "gateway", "--port", str(port)]
    command += ["--processes", str(processes)]
    process = subprocess.Popen(
        command,
        env=stack.worker_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_paused_phase(
    stack: RunningStack, count: int, key: KeyType, *, gateway_processes: int = 1
) -> PausedResult:
    ids = _park(stack, count, key)
    names = stage_queue_names(stack.queues)
    messages = sum(queue_depths(stack.options.broker.url, names).values())
    time.sleep(SETTLE_S)  # the last acks and lease releases of parking drain first
    idle, broker_idle = _idle_cpu_pct(stack)
    callbacks = _callbacks(stack, ids)
    secret = stack.callback_secret("manual")
    shares = [callbacks[i::CLIENTS] for i in range(CLIENTS)]
    # As deployed, the gateway is a process of its own, and the CA another party: neither
    # shares an interpreter lock with the sandbox instance that lives in this process.
    spawn = multiprocessing.get_context("spawn")
    with (
        _gateway_process(stack, gateway_processes) as base,
        ProcessPoolExecutor(CLIENTS, mp_context=spawn) as pool,
    ):
        started = time.monotonic()
        parts = pool.map(_post_all, [base] * CLIENTS, shares, [secret] * CLIENTS)
        statuses = [code for part in parts for code in part]
        store = stack.app.store
        while store.count_jobs().get(JobState.WAITING_FOR_CA.value, 0) > 0:
            time.sleep(0.05)
        resume_s = time.monotonic() - started
    return PausedResult(
        jobs=count,
        broker_messages=messages,
        idle_cpu_pct=round(idle, 2),
        broker_idle_cpu_pct=round(broker_idle, 2),
        resume_s=round(resume_s, 2),
        resumed=sum(code == 202 for code in statuses),
        gateway_processes=gateway_processes,
    )
