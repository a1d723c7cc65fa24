"""``twoway relay``: every job event, published on the events exchange (the outbox relay).

The store's history is the outbox: a state change and its event commit together, and
this relay publishes what was committed, in id order, with publisher confirms, then
moves its cursor. It survives a lost broker (reconnects, starts again from the cursor)
and runs safely several times over (one holds the lease at a time). Delivery is at least
once: after a crash or a lost connection some events go out again, with the same
``message_id`` (``<job_id>.<seq>``), so that consumers can drop duplicates; with that,
each job's events arrive in order.

Routing keys: ``job.<state>`` for an event that changes the job's state (exactly one per
change: ``job.accepted``, ``job.running``, ``job.waiting_for_ca``, ``job.succeeded``,
``job.failed``, ``job.cancelled``), ``job.<state>.<kind>`` for the others (stage
progress, retries, notes). Bind ``job.*`` for state changes, ``job.#`` for everything.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pika.adapters.blocking_connection import BlockingChannel

from ops.rabbitmq.bridge_loop import BridgeLoop
from ops.rabbitmq.connection import Topology, publish_json
from workers.store import JobRecord, Store
from workers.store.outbox import OutboxEvent

__all__ = ["EVENT_SCHEMA_VERSION", "EventRelay", "body_of", "routing_key_of"]

EVENT_SCHEMA_VERSION = 1
_log = structlog.get_logger("twoway.relay")


def routing_key_of(item: OutboxEvent) -> str:
    state = item.event.state.value
    return f"job.{state}" if item.state_changed else f"job.{state}.{item.event.kind}"


def body_of(item: OutboxEvent, job: JobRecord | None) -> dict[str, Any]:
    """The job as it is now (its summary) and what happened (the event)."""
    return {
        "schema_version": EVENT_SCHEMA_VERSION,
        "event": item.event.model_dump(mode="json"),
        "state_changed": item.state_changed,
        "job": job.summary() if job is not None else None,
    }


class EventRelay(BridgeLoop):
    """Publishes the outbox; ``run(stop)`` in the foreground or ``start()`` in a thread."""

    name = "relay"

    def __init__(
        self,
        store: Store,
        url: str,
        topology: Topology,
        *,
        batch: int = 200,
        poll_s: float = 0.2,
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        super().__init__(url, topology)
        self.store = store
        self.batch = batch
        self.poll_s = poll_s
        self.lease = lease
        self.owner = f"relay-{uuid.uuid4().hex[:12]}"
        self.published = 0

    def serve(self, channel: BlockingChannel, stop: threading.Event) -> None:
        while not stop.is_set():
            if self.run_once(channel) == 0:
                channel.connection.process_data_events(time_limit=self.poll_s)

    def on_exit(self) -> None:
        self.store.outbox.release(self.owner)

    # -- one batch -------------------------------------------------------------------------

    def run_once(self, channel: BlockingChannel) -> int:
        """Publish the next batch, if this relay may; returns how many went out."""
        outbox = self.store.outbox
        cursor = outbox.cursor()
        if cursor.held_by_other(self.owner, datetime.now(UTC)):
            return 0
        pending = outbox.pending(cursor.last_event_id, self.batch)
        if not pending or not outbox.claim(self.owner, at=cursor.last_event_id, lease=self.lease):
            return 0
        claimed = time.monotonic()
        jobs: dict[str, JobRecord | None] = {}
        done = cursor.last_event_id
        for item in pending:
            if time.monotonic() - claimed > self.lease.total_seconds() / 2:
                if not outbox.advance(self.owner, to=done, lease=self.lease):
                    _log.warning("relay_lease_lost", at_event=done)
                    return 0
                claimed = time.monotonic()
            self._publish(channel, item, jobs)
            done = item.id
        if not outbox.advance(self.owner, to=done, lease=self.lease):
            _log.warning("relay_lease_lost", at_event=done)
        self.published += len(pending)
        return len(pending)

    def _publish(
        self, channel: BlockingChannel, item: OutboxEvent, jobs: dict[str, JobRecord | None]
    ) -> None:
        job_id = item.event.job_id
        if job_id not in jobs:
            jobs[job_id] = self._job(job_id)
        publish_json(
            channel,
            self.topology.events_exchange,
            routing_key_of(item),
            body_of(item, jobs[job_id]),
            message_id=f"{job_id}.{item.event.seq}",
            kind=item.event.kind,
            headers={"job_id": job_id, "seq": item.event.seq, "state": item.event.state.value},
        )

    def _job(self, job_id: str) -> JobRecord | None:
        try:
            return self.store.get_job(job_id)
        except Exception:  # noqa: BLE001 - an event outlives nothing, but never stop the relay
            _log.exception("relay_job_unreadable", job_id=job_id)
            return None
