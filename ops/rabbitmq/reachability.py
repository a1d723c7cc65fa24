"""Is the broker there? Asked once before anything starts (fail fast, one line naming
the URL and the fix), and cheaply, cached, by ``/healthz`` (not ready while it is not).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions

from ops.rabbitmq.connection import CONNECTION_ERRORS
from workers.errors import ConfigError
from workers.machinery.nodes import broker_urls, node_parameters

__all__ = ["BrokerProbe", "require_broker", "shown_url"]

FIX = (
    "start RabbitMQ (e.g. 'rabbitmq-server -detached'), or point TWOWAY_BROKER_URL at one;"
    " '--broker stub' runs without a broker"
)


def shown_url(url: str) -> str:
    """``url`` (one node or several, comma-separated) as it may be printed: each password
    replaced by ``***``."""
    if "," in url:
        return ",".join(shown_url(part.strip()) for part in url.split(",") if part.strip())
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def require_broker(url: str, *, timeout_s: float = 5.0) -> None:
    """Open one AMQP connection to the first of ``url``'s nodes that answers, and close
    it; ConfigError (one line, the URLs without their passwords, the fix) when none does."""
    try:
        nodes = node_parameters(url)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"broker URL {shown_url(url)!r} is not an AMQP URL ({exc})") from None
    for params in nodes:
        params.connection_attempts = 1
        params.retry_delay = 0
        params.socket_timeout = timeout_s
        params.blocked_connection_timeout = timeout_s
    try:
        with _quiet_pika():
            pika.BlockingConnection(nodes).close()
    except pika.exceptions.ProbableAuthenticationError:
        raise ConfigError(
            f"RabbitMQ at {shown_url(url)} refused our login",
            hint="check the user and password in TWOWAY_BROKER_URL",
        ) from None
    except CONNECTION_ERRORS as exc:
        why = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        raise ConfigError(
            f"RabbitMQ is not reachable at {shown_url(url)} ({why[:120]})", hint=FIX
        ) from None


@contextmanager
def _quiet_pika() -> Iterator[None]:
    """pika logs each failed connection with its traceback; the refusal says it in one line."""
    logger = logging.getLogger("pika")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class BrokerProbe:
    """Whether the broker's port accepts a connection, asked at most every ``every_s``
    (``/healthz`` is public: a flood of probes must not become a flood of connections)."""

    def __init__(self, url: str, *, every_s: float = 2.0, timeout_s: float = 1.0) -> None:
        nodes = [urlsplit(node) for node in broker_urls(url)]
        self._addresses = [(n.hostname or "127.0.0.1", n.port or 5672) for n in nodes]
        self._every_s = every_s
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._checked_at = -float("inf")
        self._up = False

    def up(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at >= self._every_s:
                self._up = self._connects()
                self._checked_at = time.monotonic()
            return self._up

    def _connects(self) -> bool:
        """Up while any node accepts a connection (the cluster serves from any of them)."""
        for address in self._addresses:
            try:
                socket.create_connection(address, timeout=self._timeout_s).close()
            except OSError:
                continue
            return True
        return False
