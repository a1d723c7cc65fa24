"""The secrets audit: an end-to-end run leaks no private key, password or credential.

Collected: every log line (workers and this process), every message that crossed
RabbitMQ (the firehose, ``rabbitmqctl trace_on``, tapped into a queue), every answer of
the gateway and of the CLI, and the raw bytes of the store (database and WAL files).
Searched for: each job's private key as PEM, DER, base64 and hex, each keystore password,
the instance password, the master key, the operator token and the callback secret.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pika
import pytest

from messages import JobState
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.conftest import AMQP_URL
from tests.e2e.conftest import add_partners, job_for, wait_all
from tests.faults.audit import forms_of_private_key, forms_of_text, scan
from workers.logs import configure_logging

TAP = "twoway-audit-tap"


@pytest.fixture
def firehose() -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    subprocess.run(["rabbitmqctl", "trace_on"], check=True, capture_output=True, timeout=60)
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.queue_declare(TAP, exclusive=True)
    channel.queue_bind(TAP, "amq.rabbitmq.trace", routing_key="publish.#")
    try:
        yield channel
    finally:
        subprocess.run(["rabbitmqctl", "trace_off"], check=False, capture_output=True, timeout=60)
        connection.close()


def drain(channel: pika.adapters.blocking_connection.BlockingChannel) -> list[bytes]:
    bodies = []
    while True:
        method, properties, body = channel.basic_get(TAP, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(json.dumps(properties.headers or {}, default=str).encode() + b"\n" + body)


def api_answers(stack: RunningStack, job_ids: list[str]) -> list[bytes]:
    headers = {"Authorization": f"Bearer {stack.token}"}
    base = stack.gateway.url
    paths = ["/healthz", "/metrics", "/v1/jobs", "/openapi.json"]
    for job_id in job_ids:
        paths += [
            f"/v1/jobs/{job_id}",
            f"/v1/jobs/{job_id}/csr",
            f"/v1/jobs/{job_id}/client-certificate?format=pem",
            f"/v1/jobs/{job_id}/client-certificate?format=der",
        ]
    answers = [httpx.get(base + path, headers=headers, timeout=30) for path in paths]
    assert all(a.status_code == 200 for a in answers), [(a.url, a.status_code) for a in answers]
    return [a.content for a in answers]


def cli_answers(stack: RunningStack, job_ids: list[str]) -> list[bytes]:
    env = {**stack.worker_environment(), "TWOWAY_URL": stack.gateway.url}
    env["TWOWAY_TOKEN"] = stack.token
    commands = [["jobs", "--json"], *(["status", job_id, "--json"] for job_id in job_ids)]
    out = []
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "ops", *command],
            env=env,
            capture_output=True,
            timeout=120,
            check=True,
        )
        out.append(done.stdout + done.stderr)
    return out


def test_no_secret_leaves_through_logs_messages_answers_or_the_store(
    firehose: pika.adapters.blocking_connection.BlockingChannel, tmp_path: Path
) -> None:
    own_log = io.StringIO()
    configure_logging(json=True, stream=own_log, level="DEBUG")
    logging.getLogger().setLevel(logging.DEBUG)
    stack = Stack(StackOptions(broker="rabbitmq", worker_processes=2))
    with stack.start() as stack:
        partners = add_partners(stack, 3)
        keys = ["rsa2048", "ec256", "ec384"]
        pairs = zip(partners, keys, strict=True)
        ids = [stack.app.submit(job_for(stack, p, k))[0].id for p, k in pairs]
        assert set(wait_all(stack, ids).values()) == {JobState.SUCCEEDED}
        time.sleep(1.0)  # let the last trace copies arrive
        store = stack.app.store
        secrets = {
            "instance password": forms_of_text(stack.sandbox.password),
            "master key": forms_of_text(stack.master_key),
            "operator token": forms_of_text(stack.token),
        }
        if stack.info()["callback_secret"]:
            secrets["callback secret"] = forms_of_text(stack.info()["callback_secret"])
        for job_id in ids:
            key = store.artifacts.get(job_id, "private_key")
            password = store.artifacts.get(job_id, "keystore_password")
            assert key and password
            secrets[f"private key of {job_id}"] = forms_of_private_key(key)
            secrets[f"keystore password of {job_id}"] = forms_of_text(password.decode())
        corpora = {
            "messages on RabbitMQ": b"\n".join(drain(firehose)),
            "API answers": b"\n".join(api_answers(stack, ids)),
            "CLI answers": b"\n".join(cli_answers(stack, ids)),
        }
        stack.app.store.close()
        corpora["worker logs"] = (stack.state_dir / "worker.log").read_bytes()
        corpora["this process's logs"] = own_log.getvalue().encode()
        for path in sorted(stack.state_dir.glob("*.sqlite3*")):
            corpora[f"store file {path.name}"] = path.read_bytes()
    sizes = {where: len(blob) for where, blob in corpora.items()}
    print(f"audited {len(secrets)} secrets in {sizes}")
    assert sizes["messages on RabbitMQ"] > 0 and sizes["worker logs"] > 0
    assert scan(corpora, secrets) == []


def test_the_audit_finds_a_deliberate_leak() -> None:
    """The detector can fail: a key as hex, as hex of its PEM, inside a PEM, a password."""
    from messages import KeyType
    from workers.pki import generate_private_key

    key = generate_private_key(KeyType.EC256)
    forms = forms_of_private_key(key)
    corpora = {
        "worker logs": b"clean line\n" + b'{"key": "' + forms["hex"][0] + b'"}',
        "history": b'{"kind": "debug", "key": "' + key.hex().encode() + b'"}',
        "store file": b"\x00\x01" + key + b"\x00",
        "messages": b'{"pw": "hunter2-xyz-0001"}',
        "clean": b"nothing to see",
    }
    findings = {
        (f.secret, f.where)
        for f in scan(
            corpora, {"private key": forms, "password": forms_of_text("hunter2-xyz-0001")}
        )
    }
    assert findings == {
        ("private key", "worker logs"),
        ("private key", "history"),
        ("private key", "store file"),
        ("password", "messages"),
    }
