"""The AMQP side of a stack in one process (``twoway up --broker rabbitmq``): the intake
of ``<prefix>.jobs`` and the events relay, as threads; removed with the stack."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from ops.rabbitmq.connection import (
    CONNECTION_ERRORS,
    connect,
    declare,
    open_connection,
    topology_of,
)
from ops.rabbitmq.intake import Intake
from ops.rabbitmq.relay import EventRelay
from workers.app import App

__all__ = ["Messaging"]


class Messaging:
    def __init__(self, app: App, url: str) -> None:
        self.url = url
        self.topology = topology_of(app.config)
        self.intake = Intake(app, url, self.topology)
        self.relay = EventRelay(app.store, url, self.topology)

    def start(self) -> Messaging:
        """Declare the queue and the exchange before answering: a caller told the stack is
        up may bind to the exchange at once (the threads declare again on each reconnect)."""
        with connect(self.url) as channel:
            declare(channel, self.topology)
        self.intake.start()
        self.relay.start()
        return self

    def info(self) -> dict[str, Any]:
        return {
            "jobs_queue": self.topology.jobs_queue,
            "events_exchange": self.topology.events_exchange,
            "routing_keys": "job.<state> (job.* for changes of state, job.# for all events)",
        }

    def stop(self, *, remove: bool = True) -> None:
        self.intake.stop()
        self.relay.stop()
        if not remove:
            return
        with suppress(*CONNECTION_ERRORS):
            connection = open_connection(self.url)
            channel = connection.channel()
            channel.queue_delete(self.topology.jobs_queue)
            channel.exchange_delete(self.topology.events_exchange)
            connection.close()
