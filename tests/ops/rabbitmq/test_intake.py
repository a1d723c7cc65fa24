"""Job requests over AMQP on real RabbitMQ: accepted with the same idempotency rules as
the API, refused with a reason on the reply queue or the events exchange, never dropped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest

from messages import JobState
from ops.dev.sandbox import FaultPlan
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.rabbitmq.connection import Topology, topology_of
from ops.rabbitmq.intake import MAX_BODY_BYTES, Intake
from ops.views.jobview import follow
from tests.conftest import AMQP_URL
from tests.ops.gateway.conftest import fresh_job  # a message and record names of its own


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


@pytest.fixture(scope="module")
def topology(stack: RunningStack) -> Topology:
    return topology_of(stack.config)


@pytest.fixture(scope="module")
def intake(stack: RunningStack, topology: Topology) -> Iterator[Intake]:
    running = Intake(stack.app, AMQP_URL, topology, retry_s=0.05).start()
    yield running
    running.stop()
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    connection.channel().queue_delete(topology.jobs_queue)
    connection.channel().exchange_delete(topology.events_exchange)
    connection.close()


class Client:
    """A workflow: publishes requests, reads answers from its reply queue and refusals."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()  # a careful workflow: confirmed, routed, or an error
        self.channel.exchange_declare(topology.events_exchange, "topic", durable=True)
        self.channel.queue_declare(topology.jobs_queue, durable=True)
        self.replies = self.channel.queue_declare("", exclusive=True).method.queue
        self.refusals = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.refusals, topology.events_exchange, "job.refused")

    def send(self, body: bytes | dict[str, Any], *, reply: bool | str = True, **props: Any) -> str:
        correlation_id = uuid.uuid4().hex
        reply_to = reply if isinstance(reply, str) else (self.replies if reply else None)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.channel.basic_publish(
            "",
            self.topology.jobs_queue,
            data,
            pika.BasicProperties(correlation_id=correlation_id, reply_to=reply_to, **props),
            mandatory=True,
        )
        return correlation_id

    def answer(self, queue: str, correlation_id: str, timeout: float = 30) -> dict[str, Any]:
        for _ in range(int(timeout / 0.05)):
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                self.connection.sleep(0.05)
                continue
            assert properties.correlation_id == correlation_id
            answer: dict[str, Any] = json.loads(body)
            return answer
        raise AssertionError(f"no answer on {queue} for {correlation_id}")

    def reply(self, correlation_id: str) -> dict[str, Any]:
        return self.answer(self.replies, correlation_id)

    def refusal(self, correlation_id: str) -> dict[str, Any]:
        return self.answer(self.refusals, correlation_id)


@pytest.fixture
def client(topology: Topology, intake: Intake) -> Iterator[Client]:
    opened = Client(topology)
    yield opened
    opened.connection.close()


def test_a_request_is_stored_started_and_answered_with_its_job(
    stack: RunningStack, client: Client
) -> None:
    correlation = client.send(fresh_job(stack), message_id=f"wf-{uuid.uuid4().hex}")
    answer = client.reply(correlation)
    assert answer["created"] is True and answer["state"] == "accepted"
    job = follow(stack.app.store, answer["job_id"], lambda _: None, timeout=120)
    assert job.state is JobState.SUCCEEDED


def test_the_message_id_is_the_idempotency_key(stack: RunningStack, client: Client) -> None:
    key, job = f"wf-{uuid.uuid4().hex}", fresh_job(stack)
    first = client.reply(client.send(job, message_id=key))
    again = client.reply(client.send(job, message_id=key))
    assert first["created"] is True and again["created"] is False
    assert again["job_id"] == first["job_id"]


def test_an_idempotency_key_header_with_another_body_is_refused(
    stack: RunningStack, client: Client
) -> None:
    headers = {"idempotency-key": f"wf-{uuid.uuid4().hex}"}
    job = fresh_job(stack)
    client.reply(client.send(job, headers=headers))
    other = {**job, "dns_sans": ["other.example.internal"]}
    refused = client.reply(client.send(other, headers=headers))
    assert refused["error"] == "IdempotencyConflict" and "different request" in refused["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b"{}", "instance"),
        (b"x" * (MAX_BODY_BYTES + 1), "at most 1000000"),
    ],
)
def test_malformed_requests_are_refused_with_the_reason(
    client: Client, body: bytes, says: str
) -> None:
    refused = client.reply(client.send(body))
    assert refused["error"] == "RequestInvalid" and says in refused["message"]
    assert refused["hint"]


def test_a_request_naming_what_the_instance_lacks_is_refused(
    stack: RunningStack, client: Client
) -> None:
    job = stack.example_job(target={"kind": "rest", "name": "No Such API"})
    refused = client.reply(client.send(job))
    assert refused["error"] == "RequestInvalid" and "No Such API" in refused["message"]


def test_without_reply_to_a_refusal_goes_to_the_events_exchange(client: Client) -> None:
    correlation = client.send(b"{oops", reply=False, message_id="m-1")
    refusal = client.refusal(correlation)
    assert refusal["error"] == "RequestInvalid"
    assert refusal["correlation_id"] == correlation and refusal["idempotency_key"] == "m-1"


def test_a_reply_queue_that_is_gone_falls_back_to_the_events_exchange(client: Client) -> None:
    correlation = client.send(b"{oops", reply=f"gone-{uuid.uuid4().hex}")
    assert client.refusal(correlation)["error"] == "RequestInvalid"


def test_a_transient_failure_puts_the_request_back_until_it_passes(
    stack: RunningStack, client: Client, intake: Intake
) -> None:
    """The instance rate-limits admission five times over: the request waits, then passes."""
    plan = FaultPlan(
        rate=1.0,
        kinds=("429",),
        retry_after=0,
        paths=("/api/now/table/sys_rest_message", "/api/now/v2/table/sys_rest_message"),
        methods=("GET",),
        max_faults=5,
    )
    stack.sandbox.faults.set(plan)
    try:
        answer = client.reply(client.send(fresh_job(stack)))
    finally:
        served = sum(stack.sandbox.faults.served.values())
        stack.sandbox.faults.clear()
    assert served == 5 and answer["created"] is True


def test_nothing_is_left_behind_unanswered(client: Client, topology: Topology) -> None:
    client.reply(client.send(b"{}"))
    depth = client.channel.queue_declare(topology.jobs_queue, passive=True)
    assert depth.method.message_count == 0
