"""Dead letters on real RabbitMQ: listed without loss or reordering, with the time left
before RabbitMQ drops them, replayed only for jobs they can revive, purged on purpose.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pika
import pytest
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL

from messages import JobRequest, JobState, Stage
from ops.cli.client import EXIT_EXPIRING, EXIT_REFUSED
from ops.cli.main import main
from ops.rabbitmq.dead_letters import DeadLetter, DeadLetters
from ops.service.server import GatewayServer
from tests.conftest import AMQP_URL
from tests.factories import good
from workers.app import build_app
from workers.config import Settings, load_config
from workers.machinery.pipeline import build_routes
from workers.sealing import Sealer
from workers.store import Store


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A deployment of our own: queue prefix, store and master key, as the CLI reads them."""
    values = {
        "TWOWAY_QUEUE_PREFIX": f"twoway-test-{secrets.token_hex(4)}",
        "TWOWAY_BROKER_URL": AMQP_URL,
        "TWOWAY_STATE_DIR": str(tmp_path),
        "TWOWAY_MASTER_KEY": Sealer.generate_key(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    yield values
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for route in build_routes(load_config()):
        for name in (route.queue, f"{route.queue}.XQ"):
            channel.queue_delete(name)
    connection.close()


@pytest.fixture
def store(env: dict[str, str]) -> Iterator[Store]:
    opened = Store(f"sqlite:///{env['TWOWAY_STATE_DIR']}/twoway.sqlite3", Sealer.from_environment())
    yield opened
    opened.close()


@pytest.fixture
def gateway(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The deployment's gateway; the CLI knows only its URL and ops-alice's token."""
    app = build_app(load_config(), Settings.from_environment(), broker="rabbitmq")
    _, token = app.store.tokens.create("ops-alice", "operator")
    server = GatewayServer(app).start()
    monkeypatch.setenv("TWOWAY_URL", server.url)
    monkeypatch.setenv("TWOWAY_TOKEN", token)
    monkeypatch.setenv("TWOWAY_CONTEXT", str(tmp_path / "no-context.json"))
    yield
    server.stop()
    app.close()


@pytest.fixture
def dead(store: Store, gateway: None) -> DeadLetters:
    return DeadLetters(AMQP_URL, build_routes(load_config()), store)


def failed_job(store: Store, stage: Stage = Stage.ENABLE) -> str:
    job, _ = store.create_job(JobRequest.model_validate(good()))
    store.transition(job.id, kind="stage_started", state=JobState.RUNNING, stage=stage)
    error = {"error": "PermanentError", "message": f"{stage.value} failed 2 times"}
    store.transition(job.id, kind="stage_failed", state=JobState.FAILED, error=error)
    return job.id


def bury(
    dead: DeadLetters, stage: Stage, job_id: str, *, died: timedelta = timedelta(minutes=5)
) -> str:
    """Put a message in the stage's .XQ as dramatiq and RabbitMQ would have left it."""
    [(_, xq)] = dead.queues([stage])
    queue = xq.removesuffix(".XQ")
    traceback = (
        "Traceback (most recent call last):\n  ...\n"
        "workers.errors.ServiceNowUnavailable: 503 from the instance, password=hunter22"
    )
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue,
        actor_name=stage.value,
        args=({"job_id": job_id, "schema_version": 1},),
        kwargs={},
        options={"retries": 2, "traceback": traceback, "eta": 1},
    )
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.queue_declare(xq, durable=True, arguments={"x-message-ttl": DEAD_MESSAGE_TTL})
    death = {
        "count": 1,
        "reason": "rejected",
        "queue": queue,
        "exchange": "",
        "routing-keys": [queue],
        "time": datetime.now(UTC) - died,
    }
    channel.basic_publish(
        "", xq, message.encode(), pika.BasicProperties(headers={"x-death": [death]})
    )
    connection.close()
    return message.message_id


def read_all(queue: str) -> list[str]:
    """Take every message off a queue for good: their dramatiq message ids, in order."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    ids = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        ids.append(dramatiq.Message.decode(body).message_id)
    connection.close()
    return ids


def test_listing_twice_loses_nothing_and_keeps_the_order(dead: DeadLetters, store: Store) -> None:
    buried = [bury(dead, Stage.ENABLE, failed_job(store)) for _ in range(5)]
    first = [d.message_id for d in dead.peek()]
    second = [d.message_id for d in dead.peek([Stage.ENABLE])]
    assert first == second == buried
    [(_, xq)] = dead.queues([Stage.ENABLE])
    assert read_all(xq) == buried


def test_a_listing_shows_job_stage_error_age_and_time_left(
    dead: DeadLetters, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = failed_job(store)
    bury(dead, Stage.ENABLE, job_id, died=timedelta(hours=3))
    assert main(["dead-letters", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    [row] = listing["dead_letters"]
    assert row["job_id"] == job_id and row["stage"] == "enable" and row["retries"] == 2
    assert row["error"].startswith("workers.errors.ServiceNowUnavailable: 503")
    assert "hunter22" not in row["error"]  # redacted
    assert 3 * 3600 - 60 < row["age_s"] < 3 * 3600 + 60
    ttl = DEAD_MESSAGE_TTL / 1000
    assert abs(row["expires_in_s"] - (ttl - 3 * 3600)) < 60 and row["expiring"] is False


def test_messages_close_to_expiry_are_reported_loudly(
    dead: DeadLetters, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    ttl = timedelta(milliseconds=DEAD_MESSAGE_TTL)
    bury(dead, Stage.VERIFY, failed_job(store, Stage.VERIFY), died=ttl - timedelta(hours=2))
    bury(dead, Stage.ENABLE, failed_job(store))
    assert main(["dead-letters", "list"]) == EXIT_EXPIRING
    out, err = capsys.readouterr()
    assert "WARNING: 1 dead letter(s) expire within 24h (the first in 1h5" in err
    assert " !" in out and "verify" in out and "enable" in out


def test_a_stale_dead_letter_is_not_replayed_and_stays(
    dead: DeadLetters, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = failed_job(store)
    store.transition(job_id, kind="job_succeeded", state=JobState.SUCCEEDED, stage=Stage.VERIFY)
    message_id = bury(dead, Stage.ENABLE, job_id)
    replay = ["dead-letters", "replay", "--job", job_id, "--reason", "try", "--json"]
    assert main(replay) == EXIT_REFUSED
    [outcome] = json.loads(capsys.readouterr().out)
    assert outcome["done"] is False and "stale" in outcome["detail"]
    assert [d.message_id for d in dead.peek()] == [message_id]


def test_replay_revives_the_job_and_resets_the_retries(dead: DeadLetters, store: Store) -> None:
    job_id = failed_job(store)
    other = bury(dead, Stage.ENABLE, failed_job(store))
    message_id = bury(dead, Stage.ENABLE, job_id)
    assert main(["dead-letters", "replay", "--job", job_id, "--reason", "403 fixed"]) == 0
    job = store.get_job(job_id)
    assert job.state is JobState.RUNNING and job.stage is Stage.ENABLE and job.error is None
    event = store.history(job_id)[-1]
    assert event.kind == "dead_letter_replayed"
    assert event.detail["actor"].startswith("token:ops-alice (")
    assert event.detail["reason"] == "403 fixed"
    assert [d.message_id for d in dead.peek()] == [other]  # the other one stays
    [(_, xq)] = dead.queues([Stage.ENABLE])
    body = json.loads(_one(xq.removesuffix(".XQ")))
    assert body["message_id"] == message_id and body["args"][0]["job_id"] == job_id
    assert not {"retries", "traceback", "eta"} & set(body["options"])


def _one(queue: str) -> bytes:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    method, _, body = connection.channel().basic_get(queue, auto_ack=True)
    connection.close()
    assert method is not None
    return body


def test_purge_needs_yes_and_notes_it_in_the_history(
    dead: DeadLetters, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = failed_job(store)
    bury(dead, Stage.ENABLE, job_id)
    assert main(["dead-letters", "purge", "--all"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert len(dead.peek()) == 1
    assert main(["dead-letters", "purge", "--all", "--yes", "--reason", "obsolete"]) == 0
    assert dead.peek() == []
    assert store.history(job_id)[-1].kind == "dead_letter_purged"
    assert store.get_job(job_id).state is JobState.FAILED


def test_replay_without_a_selection_is_refused(
    gateway: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dead-letters", "replay", "--reason", "why not"]) == 2
    assert "--job ID, --message-id ID or --all" in capsys.readouterr().err


def test_a_replay_that_stopped_half_way_can_be_run_again(dead: DeadLetters, store: Store) -> None:
    """The job was revived but its stage queue was gone: the letter stays; once the queue
    is back, replaying again sends it (the job is already running at that stage)."""
    job_id = failed_job(store)
    message_id = bury(dead, Stage.ENABLE, job_id)
    [(_, xq)] = dead.queues([Stage.ENABLE])
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    connection.channel().queue_delete(xq.removesuffix(".XQ"))

    def mine(letter: DeadLetter) -> bool:
        return letter.job_id == job_id

    [first] = dead.replay(wanted=mine, actor="ops-alice", reason="retry")
    assert not first.done and "does not exist" in first.detail
    assert [d.message_id for d in dead.peek()] == [message_id]
    connection.channel().queue_declare(xq.removesuffix(".XQ"), durable=True)
    connection.close()
    [second] = dead.replay(wanted=mine, actor="ops-alice", reason="retry")
    assert second.done and dead.peek() == []
    kinds = [e.kind for e in store.history(job_id)]
    assert kinds.count("dead_letter_replayed") == 2
    assert store.get_job(job_id).state is JobState.RUNNING
