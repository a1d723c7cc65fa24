"""Several nodes in one URL setting, and a queue of the wrong type refused clearly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pika
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import create_engine

from tests.conftest import AMQP_URL
from workers.errors import ConfigError
from workers.machinery.broker import ensure_queues
from workers.machinery.nodes import CONNECTION_DEFAULTS, broker_urls, node_parameters
from workers.store.engine import normalise_url


def test_a_list_of_nodes_gives_one_url_each_with_the_chosen_settings() -> None:
    urls = broker_urls(
        " amqp://u:p@r1:5672/twoway, amqp://u:p@r2:5672/twoway;amqp://u:p@r3/twoway?heartbeat=30"
    )
    assert [u.split("?")[0] for u in urls] == [
        "amqp://u:p@r1:5672/twoway",
        "amqp://u:p@r2:5672/twoway",
        "amqp://u:p@r3/twoway",
    ]
    first, _, third = node_parameters(",".join(urls))
    assert first.heartbeat == int(CONNECTION_DEFAULTS["heartbeat"])
    assert first.socket_timeout == float(CONNECTION_DEFAULTS["socket_timeout"])
    assert first.connection_attempts == 1
    assert third.heartbeat == 30  # the URL's own setting wins


@pytest.mark.parametrize("text", ["", "  ", "http://r1:5672", "amqp://r1,redis://r2"])
def test_anything_but_amqp_urls_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="TWOWAY_BROKER_URL"):
        broker_urls(text)


def test_the_nodes_are_tried_in_turn_until_one_answers() -> None:
    nobody = "amqp://guest:guest@127.0.0.1:1"  # nothing listens on port 1
    connection = pika.BlockingConnection(node_parameters(f"{nobody},{AMQP_URL}"))
    assert connection.is_open
    connection.close()


def test_several_postgresql_hosts_become_libpq_host_lists() -> None:
    url = normalise_url("postgresql://u:p@db1:5432,db2:5433/twoway?target_session_attrs=read-write")
    engine = create_engine(url)
    _, params = engine.dialect.create_connect_args(engine.url)
    assert params["host"] == "db1,db2" and params["port"] == "5432,5433"
    assert params["target_session_attrs"] == "read-write"
    assert params["connect_timeout"] == "5" and params["keepalives_idle"] == "10"
    assert params["dbname"] == "twoway" and params["user"] == "u"


@pytest.fixture
def quorum_queue() -> Iterator[str]:
    """A quorum queue of this test's own name, made as a deployment's vhost would."""
    name = f"twoway-test-{uuid.uuid4().hex[:8]}.generate"
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    dramatiqs = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{name}.XQ"}
    channel.queue_declare(name, durable=True, arguments={**dramatiqs, "x-queue-type": "quorum"})
    try:
        yield name
    finally:
        channel.queue_delete(name)
        connection.close()


def test_a_stage_queue_of_another_type_fails_with_what_to_do(quorum_queue: str) -> None:
    """dramatiq declares without a type (the vhost's default: classic on '/'); RabbitMQ
    refuses with 406 and the worker says so instead of retrying for ever."""
    broker = RabbitmqBroker(url=broker_urls(AMQP_URL), confirm_delivery=True)
    try:
        with pytest.raises(ConfigError, match="x-queue-type") as refused:
            ensure_queues(broker, [quorum_queue])
        assert "docs/cluster.md" in refused.value.hint
    finally:
        broker.close()
