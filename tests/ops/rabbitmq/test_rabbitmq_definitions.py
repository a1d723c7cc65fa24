"""The RabbitMQ definitions compose.yaml boots with, imported into the real broker (under
a vhost and user of the test's own, removed afterwards)."""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pika
import pika.exceptions
import pytest

from ops.rabbitmq.connection import Topology, declare
from ops.rabbitmq.definitions import definitions, password_hash


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def imported() -> Iterator[tuple[str, str, str]]:
    """(vhost, user, password): the definitions, moved to a vhost of this test, imported."""
    vhost, user = f"twoway-test-{secrets.token_hex(4)}", f"twoway-test-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    text = json.dumps(definitions(password, user=user)).replace('"twoway"', json.dumps(vhost))
    # rabbitmqctl may read it as the broker's user: a file that user can reach
    with tempfile.TemporaryDirectory(prefix="twoway-defs-") as folder:
        Path(folder).chmod(0o755)
        path = Path(folder) / "definitions.json"
        path.write_text(text)
        path.chmod(0o644)
        rabbitmqctl("import_definitions", str(path))
    try:
        yield vhost, user, password
    finally:
        rabbitmqctl("delete_vhost", vhost)
        rabbitmqctl("delete_user", user)


def login(vhost: str, user: str, password: str) -> pika.BlockingConnection:
    url = f"amqp://{quote(user)}:{quote(password)}@127.0.0.1:5672/{quote(vhost, safe='')}"
    for _ in range(100):  # the import finishes in the background
        try:
            return pika.BlockingConnection(pika.URLParameters(url))
        except pika.exceptions.AMQPConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{user} cannot log in to {vhost}")


def test_the_hash_is_rabbitmqs_salted_sha256() -> None:
    salt = bytes.fromhex("908dc60a")
    # RabbitMQ's own documented example (password "test12"): base64(salt + sha256(salt+pw))
    assert password_hash("test12", salt) == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"


def test_the_definitions_boot_the_topology_twoway_declares(
    imported: tuple[str, str, str],
) -> None:
    vhost, user, password = imported
    connection = login(vhost, user, password)
    channel = connection.channel()
    declare(channel, Topology(jobs_queue="twoway.jobs", events_exchange="twoway.events"))
    channel.exchange_declare("twoway.events", passive=True)
    assert channel.queue_declare("twoway.jobs", passive=True).method.message_count == 0
    connection.close()
    policies = rabbitmqctl("list_policies", "-p", vhost, "--formatter", "json")
    [policy] = json.loads(policies[policies.index("[") :])
    assert policy["name"] == "twoway-jobs-bounded" and "reject-publish" in policy["definition"]


def test_a_wrong_password_is_refused(imported: tuple[str, str, str]) -> None:
    vhost, user, password = imported
    login(vhost, user, password).close()
    url = f"amqp://{quote(user)}:wrong@127.0.0.1:5672/{quote(vhost, safe='')}"
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(pika.URLParameters(url))
