"""``twoway intake``: job requests over AMQP, for workflows that speak it.

A workflow publishes the same JSON as ``POST /v1/jobs`` to ``<prefix>.jobs``. The
``message_id`` property (or an ``idempotency-key`` header, which wins) is the
Idempotency-Key: the same key and body give the same job, so a publisher may resend.
With ``reply_to`` the answer goes there, under the request's ``correlation_id``:
``{"job_id", "state", "created"}`` or ``{"error", "message", "hint"}``. A refused request
without ``reply_to`` (or whose reply queue is gone) is published on the events exchange
with routing key ``job.refused``. Nothing is dropped silently: a message is acked only
after its job is stored or its refusal is published (publisher confirms); a transient
failure (the store or the instance unreachable) puts it back for another try.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pika.exceptions
import structlog
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties
from sqlalchemy.exc import OperationalError

from ops.rabbitmq.bridge_loop import BridgeLoop
from ops.rabbitmq.connection import Topology, publish_json
from workers.app import App
from workers.errors import RequestInvalid, TransientError, TwowayError
from workers.logs import redact_text

__all__ = ["MAX_BODY_BYTES", "Intake", "idempotency_key_of"]

MAX_BODY_BYTES = 1_000_000
MAX_KEY_LENGTH = 200
_log = structlog.get_logger("twoway.intake")


@dataclass(frozen=True)
class _Answer:
    body: dict[str, Any]
    refused: bool


def idempotency_key_of(properties: BasicProperties) -> str | None:
    headers = properties.headers or {}
    for name, value in headers.items():
        if str(name).lower() == "idempotency-key" and value not in (None, ""):
            return value.decode() if isinstance(value, bytes) else str(value)
    return properties.message_id or None


def _parse(body: bytes, key: str | None) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise RequestInvalid(
            f"the request is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted",
            hint="a job request is a few kilobytes: check what was published",
        )
    if key is not None and len(key) > MAX_KEY_LENGTH:
        raise RequestInvalid(
            f"the idempotency key is {len(key)} characters; at most {MAX_KEY_LENGTH}",
            hint="use a shorter message_id or idempotency-key header",
        )
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestInvalid(
            f"the request is not JSON: {exc}",
            hint="publish the JobRequest as a UTF-8 JSON object (see /openapi.json)",
        ) from exc
    if not isinstance(raw, dict):
        raise RequestInvalid(
            f"the request is JSON {type(raw).__name__}, not an object",
            hint="publish the JobRequest as a JSON object",
        )
    return raw


def _refusal(exc: TwowayError) -> dict[str, Any]:
    return {k: redact_text(v) if isinstance(v, str) else v for k, v in exc.as_dict().items()}


class Intake(BridgeLoop):
    """Consumes ``<prefix>.jobs``; ``run(stop)`` in the foreground or ``start()``."""

    name = "intake"

    def __init__(
        self, app: App, url: str, topology: Topology, *, prefetch: int = 4, retry_s: float = 2.0
    ) -> None:
        super().__init__(url, topology)
        self.app = app
        self.prefetch = prefetch
        self.retry_s = retry_s
        self.handled = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twoway-intake")

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=False)

    def on_connect(self, channel: BlockingChannel) -> None:
        channel.basic_qos(prefetch_count=self.prefetch)

    def serve(self, channel: BlockingChannel, stop: threading.Event) -> None:
        for method, properties, body in channel.consume(
            self.topology.jobs_queue, inactivity_timeout=0.2
        ):
            if stop.is_set():
                break
            if method is None:
                continue
            self.handle(channel, method, properties, body)
        channel.cancel()

    # -- one request -----------------------------------------------------------------------

    def handle(
        self,
        channel: BlockingChannel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        """Store the job or publish the refusal, then ack; put back on a transient error."""
        key = idempotency_key_of(properties)
        try:
            answer = self._while_serving(channel, body, key)
        except (TransientError, OperationalError) as exc:
            _log.warning("intake_retry_later", error=redact_text(str(exc)), retry_s=self.retry_s)
            channel.connection.sleep(self.retry_s)
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        self._answer(channel, properties, key, answer)
        channel.basic_ack(method.delivery_tag)
        self.handled += 1

    def _while_serving(self, channel: BlockingChannel, body: bytes, key: str | None) -> _Answer:
        """Admission may ask the instance for a while: keep the connection's heartbeats."""
        future = self._pool.submit(self._submit, body, key)
        while not future.done():
            channel.connection.process_data_events(time_limit=0.05)
        return future.result()

    def _submit(self, body: bytes, key: str | None) -> _Answer:
        try:
            job, created = self.app.submit(_parse(body, key), idempotency_key=key)
        except (TransientError, OperationalError):  # the instance or the store: try later
            raise
        except TwowayError as exc:
            return _Answer(_refusal(exc), refused=True)
        except Exception as exc:  # noqa: BLE001 - a bug must answer, not loop or vanish
            _log.exception("intake_failed")
            message = f"the request could not be handled: {type(exc).__name__}"
            hint = "the intake's log has the details; the request may be sent again"
            return _Answer({"error": "InternalError", "message": message, "hint": hint}, True)
        _log.info("intake_accepted", job_id=job.id, created=created)
        return _Answer({"job_id": job.id, "state": job.state.value, "created": created}, False)

    def _answer(
        self,
        channel: BlockingChannel,
        properties: BasicProperties,
        key: str | None,
        answer: _Answer,
    ) -> None:
        if properties.reply_to:
            try:
                publish_json(
                    channel,
                    "",
                    properties.reply_to,
                    answer.body,
                    correlation_id=properties.correlation_id,
                    kind="job_refused" if answer.refused else "job_submitted",
                    mandatory=True,
                )
                return
            except pika.exceptions.UnroutableError:
                _log.warning("intake_reply_unroutable", reply_to=properties.reply_to)
        if answer.refused:
            _log.info("intake_refused", error=answer.body.get("error"))
            publish_json(
                channel,
                self.topology.events_exchange,
                "job.refused",
                {
                    **answer.body,
                    "correlation_id": properties.correlation_id,
                    "message_id": properties.message_id,
                    "idempotency_key": key,
                    "refused_at": time.time(),
                },
                correlation_id=properties.correlation_id,
                kind="job_refused",
            )
