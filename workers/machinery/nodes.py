"""The broker's nodes: one URL or a list of them, with the connection settings twoway chose.

``TWOWAY_BROKER_URL`` names one RabbitMQ node or several (a cluster), separated by commas,
semicolons or spaces. Every connection twoway opens (dramatiq's, and the plain pika ones
of the intake, the relay, dead letters, broker metrics and the queue chores) tries the
nodes in the order given and takes the first that answers, so list the nodes in the same
order everywhere, or rotate them per host to spread connections.

Each URL gets these settings unless it sets them itself (pika reads them from the query):

- ``heartbeat=10``: a connection to a node that is cut off is given up after two missed
  heartbeats (10-20 s, plus the time the client next looks), not after the kernel's TCP
  timeout (minutes); lower makes busy blocking clients drop healthy connections;
- ``socket_timeout=5`` and ``stack_timeout=10``: a node that does not answer the TCP
  handshake (partitioned: its packets are dropped) costs 5 s before the next node is tried,
  and the whole AMQP handshake at most 10 s;
- ``connection_attempts=1`` and ``retry_delay=1``: one try per node per round; the callers
  (dramatiq's publish, the intake's and relay's loops, ``Runtime.send``) retry rounds with
  their own back-off and time budget;
- ``blocked_connection_timeout=60``: a publisher blocked by a node's memory or disk alarm
  gives up after a minute instead of hanging.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from dramatiq.errors import BrokerConnectionError

from workers.errors import ConfigError

__all__ = ["CONNECTION_DEFAULTS", "broker_urls", "node_parameters", "queue_type_conflict"]

_PRECONDITION_FAILED = 406

CONNECTION_DEFAULTS: dict[str, str] = {
    "heartbeat": "10",
    "socket_timeout": "5",
    "stack_timeout": "10",
    "connection_attempts": "1",
    "retry_delay": "1",
    "blocked_connection_timeout": "60",
}

_SEPARATORS = re.compile(r"[,;\s]+")


def broker_urls(text: str) -> list[str]:
    """The node URLs in ``text``, each with :data:`CONNECTION_DEFAULTS` filled in."""
    urls = [part for part in _SEPARATORS.split(text.strip()) if part]
    if not urls:
        raise ConfigError(
            "TWOWAY_BROKER_URL is empty",
            hint="for example amqp://guest:guest@127.0.0.1:5672, or several nodes:"
            " amqp://u:p@rabbit1:5672/twoway,amqp://u:p@rabbit2:5672/twoway",
        )
    for url in urls:
        if not url.startswith(("amqp://", "amqps://")):
            raise ConfigError(
                "TWOWAY_BROKER_URL must be amqp:// or amqps:// URLs (one node or several,"
                " separated by commas)",
                hint="for example amqp://guest:guest@127.0.0.1:5672",
            )
    return [_with_defaults(url) for url in urls]


def _with_defaults(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    merged = {**CONNECTION_DEFAULTS, **query}
    return urlunsplit(parts._replace(query=urlencode(merged)))


def node_parameters(text: str) -> list[pika.URLParameters]:
    """pika's parameters for each node, for ``pika.BlockingConnection`` (tries in order)."""
    return [pika.URLParameters(url) for url in broker_urls(text)]


def queue_type_conflict(exc: BaseException) -> ConfigError | None:
    """The ConfigError for a declaration refused (406) because the queue exists with
    other arguments, most often another ``x-queue-type``; None for any other error."""
    cause: object = exc.message if isinstance(exc, BrokerConnectionError) else exc
    if not isinstance(cause, pika.exceptions.ChannelClosedByBroker):
        return None
    text = str(cause.reply_text)
    if cause.reply_code != _PRECONDITION_FAILED or "inequivalent arg" not in text:
        return None
    return ConfigError(
        f"RabbitMQ refused to declare a stage queue: {text}",
        hint="the queue exists with other arguments than twoway declares, most often another"
        " type (classic, from before quorum queues became the default): drain and migrate it"
        " as docs/cluster.md ('Migrating from classic queues') describes",
    )
