"""A workflow that speaks only AMQP: it publishes a job request to ``<prefix>.jobs``, gets
the job id on its reply queue, and waits for ``job.succeeded`` on the events exchange
(worker processes, intake and relay on real RabbitMQ)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest

from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.conftest import AMQP_URL


@pytest.fixture
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="rabbitmq", worker_processes=1, amqp=True)) as running:
        yield running


def next_message(
    connection: pika.BlockingConnection, queue: str, timeout: float = 120
) -> tuple[str, Any, dict[str, Any]]:
    channel = connection.channel()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return method.routing_key, properties, json.loads(body)
        connection.sleep(0.05)
    raise AssertionError(f"nothing arrived on {queue}")


def test_a_job_requested_over_amqp_is_announced_when_it_succeeds(stack: RunningStack) -> None:
    info = stack.info()["amqp"]
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.confirm_delivery()
    replies = channel.queue_declare("", exclusive=True).method.queue
    changes = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(changes, info["events_exchange"], "job.*")  # changes of state only
    correlation = uuid.uuid4().hex
    channel.basic_publish(
        "",
        info["jobs_queue"],
        json.dumps(stack.example_job()).encode(),
        pika.BasicProperties(
            reply_to=replies, correlation_id=correlation, message_id=f"wf-{correlation}"
        ),
        mandatory=True,
    )
    _, properties, answer = next_message(connection, replies, timeout=30)
    assert properties.correlation_id == correlation and answer["created"] is True
    job_id = answer["job_id"]

    seen: list[str] = []
    while "job.succeeded" not in seen:
        key, properties, event = next_message(connection, changes)
        assert event["job"]["job_id"] == job_id and properties.message_id.startswith(job_id)
        assert key != "job.failed", event["job"]["error"]
        seen.append(key)
    assert seen == ["job.accepted", "job.running", "job.succeeded"]
    assert event["job"]["state"] == "succeeded" and event["event"]["kind"] == "job_succeeded"
    connection.close()
