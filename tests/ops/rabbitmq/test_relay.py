"""The events relay on real RabbitMQ, over a store on SQLite and on PostgreSQL: every
event published once per change of state, in order per job, through lost connections
and with several relays at once.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pytest

from messages import JobRequest, JobState, Stage
from ops.rabbitmq.connection import Topology
from ops.rabbitmq.relay import EventRelay
from tests.conftest import AMQP_URL
from tests.factories import good
from workers.sealing import Sealer
from workers.store import Store


@dataclass
class Received:
    routing_key: str
    message_id: str
    body: dict[str, Any]


class Listener:
    """A queue bound to the events exchange, read with basic_get."""

    def __init__(self, topology: Topology, binding: str = "job.#") -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(topology.events_exchange, "topic", durable=True)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, topology.events_exchange, binding)
        self.received: list[Received] = []

    def drain(self) -> list[Received]:
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.received
            self.received.append(
                Received(method.routing_key, properties.message_id, json.loads(body))
            )

    def wait_for(self, ids: set[str], timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while {r.message_id for r in self.drain()} < ids and time.monotonic() < deadline:
            self.connection.sleep(0.05)
        return self.received

    def close(self) -> None:
        self.connection.close()


class CuttableProxy:
    """A TCP relay to RabbitMQ whose connections can be cut, as a broker restart would."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 5672))
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            cut, self._sockets = self._sockets, []
        for sock in cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.server.close()
        self.cut()


@pytest.fixture
def store(store_url: str, sealer: Sealer) -> Iterator[Store]:
    opened = Store(store_url, sealer)
    yield opened
    opened.close()


@pytest.fixture
def topology() -> Topology:
    prefix = f"twoway-test-{secrets.token_hex(4)}"
    return Topology(jobs_queue=f"{prefix}.jobs", events_exchange=f"{prefix}.events")


@pytest.fixture
def listener(topology: Topology) -> Iterator[Listener]:
    opened = Listener(topology)
    yield opened
    opened.channel.exchange_delete(topology.events_exchange)
    opened.close()


def run_job(store: Store, *, fail: bool = False) -> str:
    job, _ = store.create_job(JobRequest.model_validate(good()))
    store.transition(job.id, kind="stage_started", state=JobState.RUNNING, stage=Stage.GENERATE)
    store.note(job.id, "stage_retry", {"attempt": 1})
    store.transition(job.id, kind="stage_completed", detail={"duration_ms": 1.0})
    final = JobState.FAILED if fail else JobState.SUCCEEDED
    store.transition(job.id, kind=f"job_{final.value}", state=final)
    return job.id


def all_ids(store: Store, job_ids: list[str]) -> set[str]:
    return {f"{j}.{e.seq}" for j in job_ids for e in store.history(j)}


def in_order_per_job(received: list[Received]) -> bool:
    """Dropping repeats (at least once), each job's events arrive in sequence order."""
    seen: set[str] = set()
    last: dict[str, int] = defaultdict(int)
    for item in received:
        if item.message_id in seen:
            continue
        seen.add(item.message_id)
        job_id, seq = item.message_id.rsplit(".", 1)
        if int(seq) != last[job_id] + 1:
            return False
        last[job_id] = int(seq)
    return True


def test_each_state_change_is_one_message_keyed_by_the_state(
    store: Store, topology: Topology, listener: Listener
) -> None:
    job_id = run_job(store)
    relay = EventRelay(store, AMQP_URL, topology)
    with pika.BlockingConnection(pika.URLParameters(AMQP_URL)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        assert relay.run_once(channel) == 5
        assert relay.run_once(channel) == 0  # the cursor moved: nothing twice
    received = listener.wait_for(all_ids(store, [job_id]))
    assert [r.routing_key for r in received] == [
        "job.accepted",
        "job.running",
        "job.running.stage_retry",
        "job.running.stage_completed",
        "job.succeeded",
    ]
    assert [r.message_id for r in received] == [f"{job_id}.{n}" for n in range(1, 6)]
    last = received[-1].body
    assert last["event"]["kind"] == "job_succeeded" and last["state_changed"] is True
    assert last["job"]["job_id"] == job_id and last["job"]["state"] == "succeeded"
    assert received[2].body["state_changed"] is False
    assert store.outbox.cursor().last_event_id > 0


def test_a_workflow_waiting_for_job_succeeded_gets_only_that(
    store: Store, topology: Topology, listener: Listener
) -> None:
    waiter = Listener(topology, binding="job.succeeded")
    try:
        ok, bad = run_job(store), run_job(store, fail=True)
        relay = EventRelay(store, AMQP_URL, topology, poll_s=0.05).start()
        listener.wait_for(all_ids(store, [ok, bad]))
        relay.stop()
        got = waiter.drain()
    finally:
        waiter.close()
    assert [(r.routing_key, r.body["job"]["job_id"]) for r in got] == [("job.succeeded", ok)]


def test_two_relays_and_busy_writers_lose_nothing_and_keep_order(
    store: Store, topology: Topology, listener: Listener
) -> None:
    """Writers commit concurrently (on PostgreSQL, ids are drawn before commit); two
    relays share the cursor. Every event arrives, each job's in order."""
    relays = [EventRelay(store, AMQP_URL, topology, poll_s=0.02).start() for _ in range(2)]
    job_ids: list[str] = []

    def writer() -> None:
        for _ in range(6):
            job_ids.append(run_job(store))

    writers = [threading.Thread(target=writer) for _ in range(4)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    expected = all_ids(store, job_ids)
    received = listener.wait_for(expected)
    for relay in relays:
        relay.stop()
    assert {r.message_id for r in received} == expected
    assert len(received) == len(expected)  # one lease at a time: nothing went out twice
    assert in_order_per_job(received)


def test_a_lost_broker_connection_loses_nothing(
    store: Store, topology: Topology, listener: Listener
) -> None:
    proxy = CuttableProxy()
    relay = EventRelay(store, proxy.url, topology, batch=5, poll_s=0.02).start()
    job_ids: list[str] = []
    try:
        for _ in range(3):
            job_ids += [run_job(store) for _ in range(5)]
            target = len(all_ids(store, job_ids)) - 10
            deadline = time.monotonic() + 30
            while relay.published < target and time.monotonic() < deadline:
                time.sleep(0.01)
            proxy.cut()  # mid-stream: the relay must reconnect and go on from its cursor
        expected = all_ids(store, job_ids)
        received = listener.wait_for(expected)
    finally:
        relay.stop()
        proxy.close()
    assert relay.connects >= 4
    assert {r.message_id for r in received} == expected
    assert in_order_per_job(received)
