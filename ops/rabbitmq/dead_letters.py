"""Dead letters: the messages that exhausted their retries, in dramatiq's ``.XQ`` queues.

Listing peeks: messages are taken without an ack and the channel is closed, so RabbitMQ
puts every one back where it was (nothing lost, nothing reordered). RabbitMQ drops a dead
letter ``DEAD_MESSAGE_TTL`` after it arrived (dramatiq's default is 7 days, set by the
environment variable ``dramatiq_dead_message_ttl`` when the queue is declared); each
listing says how long every message has left, and flags those close to the end.

Replaying moves a message back to its stage's queue with its retry count reset, after
the job is revived in the store (failed -> running at that stage, with who and why);
purging drops messages, noting it in each job's history. Both act only on the messages
selected (by stage, job or message id), and ack one only after its work is done.

:func:`dead_letters_of` is the one rule for where an app's dead letters are: the API and
the console both ask it, so on the stub broker both say the same.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dramatiq
import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL
from dramatiq.brokers.stub import StubBroker
from pika.adapters.blocking_connection import BlockingChannel

from messages import JobState, Stage
from ops.rabbitmq.connection import open_connection
from workers.errors import JobNotFound, StateConflict
from workers.logs import redact_text
from workers.machinery.pipeline import Routes
from workers.store import Store

if TYPE_CHECKING:
    from workers.app import App

__all__ = ["DeadLetter", "DeadLetters", "Outcome", "dead_letters_of"]

_RESET = frozenset({"retries", "traceback", "requeue_timestamp", "eta"})


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    stage: Stage
    message_id: str
    job_id: str | None
    error: str
    retries: int
    dead_at: datetime | None
    expires_in_s: float | None
    body: bytes

    def age_s(self, now: datetime) -> float | None:
        return (now - self.dead_at).total_seconds() if self.dead_at else None

    def summary(self, now: datetime) -> dict[str, Any]:
        out = asdict(self)
        del out["body"]
        out.update(stage=self.stage.value, age_s=self.age_s(now))
        out["dead_at"] = self.dead_at.isoformat() if self.dead_at else None
        return out


@dataclass(frozen=True)
class Outcome:
    """What replay or purge did with one dead letter."""

    message_id: str
    job_id: str | None
    stage: str
    done: bool
    detail: str


def _dead_at(properties: pika.BasicProperties) -> datetime | None:
    deaths = (properties.headers or {}).get("x-death") or []
    when = deaths[0].get("time") if deaths and isinstance(deaths[0], dict) else None
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def _last_line(traceback: object) -> str:
    """The error a traceback ends with (its last exception line, redacted).

    dramatiq's ``Retry`` (raised to wait as long as a 429 asked) is skipped for the error
    it was raised from, which the traceback shows above it.
    """
    skip = ("Traceback", "During handling", "The above exception", "dramatiq.errors.Retry")
    lines = [
        line.strip()
        for line in str(traceback or "").splitlines()
        if line.strip() and not line[0].isspace() and not line.startswith(skip)
    ]
    return redact_text(lines[-1])[:500] if lines else ""


def dead_letters_of(app: App) -> DeadLetters:
    """The app's dead letters, in RabbitMQ; ``StateConflict`` on the in-process stub
    broker, which keeps none (a failed message there is gone, its job failed)."""
    if isinstance(app.broker, StubBroker):
        raise StateConflict(
            "dead letters live in RabbitMQ, and this stack runs on the in-process stub broker,"
            " which keeps none",
            hint="run on RabbitMQ (twoway up --broker rabbitmq) to keep and replay them",
        )
    return DeadLetters(app.settings.broker_url, app.runtime.routes, app.store)


class DeadLetters:
    def __init__(
        self, url: str, routes: Routes, store: Store | None = None, *, ttl_ms: int | None = None
    ) -> None:
        self.url = url
        self.routes = routes
        self.store = store
        self.ttl_s = (DEAD_MESSAGE_TTL if ttl_ms is None else ttl_ms) / 1000

    def queues(self, stages: Collection[Stage] = ()) -> list[tuple[Stage, str]]:
        return [(r.stage, f"{r.queue}.XQ") for r in self.routes if not stages or r.stage in stages]

    @contextmanager
    def _connection(self) -> Iterator[pika.BlockingConnection]:
        connection = open_connection(self.url)
        try:
            yield connection
        finally:
            if connection.is_open:
                connection.close()

    def read(
        self, channel: BlockingChannel, queue: str, stage: Stage, limit: int
    ) -> Iterator[tuple[int, DeadLetter]]:
        """Each message with its delivery tag, unacked (they return when the channel closes)."""
        now = datetime.now(UTC)
        for _ in range(limit):
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                return
            yield method.delivery_tag, self._parse(queue, stage, properties, body, now)

    def _parse(
        self, queue: str, stage: Stage, properties: pika.BasicProperties, body: bytes, now: datetime
    ) -> DeadLetter:
        dead_at = _dead_at(properties)
        expires = self.ttl_s - (now - dead_at).total_seconds() if dead_at else None
        try:
            message = dramatiq.Message.decode(body)
        except Exception:  # noqa: BLE001 - a foreign message is listed, not fatal
            return DeadLetter(
                queue, stage, "?", None, "not a dramatiq message", 0, dead_at, expires, body
            )
        payload = message.args[0] if message.args else None
        job_id = payload.get("job_id") if isinstance(payload, dict) else None
        error = _last_line(message.options.get("traceback")) or self._job_error(job_id)
        retries = int(message.options.get("retries", 0))
        return DeadLetter(
            queue, stage, message.message_id, job_id, error, retries, dead_at, expires, body
        )

    def _job_error(self, job_id: str | None) -> str:
        if self.store is None or job_id is None:
            return ""
        try:
            error = self.store.get_job(job_id).error or {}
        except JobNotFound:
            return "(the job is not in the store)"
        return redact_text(str(error.get("message", "")))[:500]

    # -- listing ---------------------------------------------------------------------------

    def peek(self, stages: Collection[Stage] = (), *, limit: int = 1000) -> list[DeadLetter]:
        """Every dead letter (up to ``limit`` per queue), oldest first within a queue."""
        found: list[DeadLetter] = []
        with self._connection() as connection:
            for stage, queue in self.queues(stages):
                channel = connection.channel()
                try:
                    found += [letter for _, letter in self.read(channel, queue, stage, limit)]
                except pika.exceptions.ChannelClosedByBroker as exc:
                    if exc.reply_code != 404:  # no such queue: no dead letters yet
                        raise
                    continue
                channel.close()  # everything taken goes back, in its place
        return found

    # -- acting ------------------------------------------------------------------------------

    def _each(
        self,
        stages: Collection[Stage],
        wanted: Callable[[DeadLetter], bool],
        act: Callable[[BlockingChannel, DeadLetter], Outcome],
        limit: int,
    ) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._connection() as connection:
            for stage, queue in self.queues(stages):
                channel = connection.channel()
                channel.confirm_delivery()
                try:
                    for tag, letter in self.read(channel, queue, stage, limit):
                        if not wanted(letter):
                            continue
                        outcome = act(channel, letter)
                        if outcome.done:
                            channel.basic_ack(tag)
                        outcomes.append(outcome)
                except pika.exceptions.ChannelClosedByBroker as exc:
                    if exc.reply_code != 404:
                        raise
                    continue
                channel.close()  # the others go back where they were
        return outcomes

    def replay(
        self,
        stages: Collection[Stage] = (),
        *,
        wanted: Callable[[DeadLetter], bool],
        actor: str,
        reason: str,
        limit: int = 1000,
    ) -> list[Outcome]:
        def act(channel: BlockingChannel, letter: DeadLetter) -> Outcome:
            refused = self._revive(letter, actor, reason)
            if refused:
                return Outcome(letter.message_id, letter.job_id, letter.stage.value, False, refused)
            try:
                _resend(channel, letter)
            except pika.exceptions.UnroutableError:
                queue = letter.queue.removesuffix(".XQ")
                why = f"queue {queue} does not exist: start a worker for it, then replay again"
                return Outcome(letter.message_id, letter.job_id, letter.stage.value, False, why)
            return Outcome(letter.message_id, letter.job_id, letter.stage.value, True, "replayed")

        return self._each(stages, wanted, act, limit)

    def purge(
        self,
        stages: Collection[Stage] = (),
        *,
        wanted: Callable[[DeadLetter], bool],
        actor: str,
        reason: str,
        limit: int = 1000,
    ) -> list[Outcome]:
        def act(_channel: BlockingChannel, letter: DeadLetter) -> Outcome:
            if self.store is not None and letter.job_id is not None:
                detail = {"actor": actor, "reason": reason, "message_id": letter.message_id}
                with suppress(JobNotFound):
                    self.store.note(letter.job_id, "dead_letter_purged", detail)
            return Outcome(letter.message_id, letter.job_id, letter.stage.value, True, "purged")

        return self._each(stages, wanted, act, limit)

    def _revive(self, letter: DeadLetter, actor: str, reason: str) -> str | None:
        """failed -> running at the letter's stage; a refusal says why not (or None)."""
        if self.store is None or letter.job_id is None:
            return "not a twoway stage message: purge it"
        try:
            job = self.store.get_job(letter.job_id)
        except JobNotFound:
            return "its job is not in the store: purge it"
        detail = {"actor": actor, "reason": reason, "message_id": letter.message_id}
        if job.state in (JobState.RUNNING, JobState.ACCEPTED) and job.stage == letter.stage:
            self.store.note(job.id, "dead_letter_replayed", {**detail, "revived": False})
            return None  # a replay that stopped half way, or a job already revived
        try:
            self.store.transition(
                job.id,
                kind="dead_letter_replayed",
                expect={JobState.FAILED},
                expect_stage={letter.stage},
                state=JobState.RUNNING,
                clear_error=True,
                detail={**detail, "revived": True, "retries_before": letter.retries},
            )
        except StateConflict:
            at = job.stage.value if job.stage else "-"
            return (
                f"the job is {job.state.value} at stage {at}, so this message is stale:"
                " purge it (or use 'twoway replay' for the job)"
            )
        return None


def _resend(channel: BlockingChannel, letter: DeadLetter) -> None:
    """The message again, on its stage's queue, as if never tried (confirmed, routed)."""
    old = dramatiq.Message.decode(letter.body)
    queue = letter.queue.removesuffix(".XQ")
    fresh: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue,
        actor_name=old.actor_name,
        args=old.args,
        kwargs=old.kwargs,
        options={k: v for k, v in old.options.items() if k not in _RESET},
        message_id=old.message_id,
        message_timestamp=old.message_timestamp,
    )
    channel.basic_publish(
        "",
        queue,
        fresh.encode(),
        pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
        mandatory=True,
    )
