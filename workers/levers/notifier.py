"""The notifier: the events a person must act on reach them by webhook and e-mail.

It follows the history (cursor ``notifier``) and asks :mod:`workers.lifecycle.triggers`
about every event; one it must tell gets a row per channel that takes its kind in the
notification outbox, keyed by the event's id, so none is sent twice by twoway (a worker
that dies between sending and recording sends it again: the event id, in the webhook's
``X-Twoway-Event-Id`` and the mail's ``Message-ID``, lets the receiver drop it). Then it
delivers what is due: a channel that is down is tried again with doubling backoff; after
``[notify] max_attempts``, or at once when it refuses, the row is dead-lettered (state
``dead``, listed by ``Notifier.dead_letters``) and the job's history says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Protocol

import structlog

from workers.config import PipelineConfig
from workers.errors import JobNotFound, NotificationRefused, TwowayError
from workers.levers.follower import HistoryFollower
from workers.levers.waiting import wait_deadline
from workers.lifecycle.mail import MailSender
from workers.lifecycle.payloads import Notice, notice_for
from workers.lifecycle.triggers import notify_kind
from workers.lifecycle.webhook import WebhookSender
from workers.store import Store
from workers.store.lifecycle import Backoff, OutboxRow
from workers.store.outbox import OutboxEvent

__all__ = ["Notifier", "Sender"]

_log = structlog.get_logger("twoway.notifier")


class Sender(Protocol):
    def send(self, notice: Notice) -> None: ...


class Notifier(HistoryFollower):
    name = "notifier"
    cursor = "notifier"

    def __init__(
        self, store: Store, config: PipelineConfig, environ: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(store)
        self.config = config
        settings = config.notify
        self.every_s = settings.every_s
        self.backoff = Backoff(
            settings.min_backoff_s, settings.max_backoff_s, settings.max_attempts
        )
        self.senders: dict[str, Sender] = {}
        for hook in settings.webhooks:
            self.senders[hook.name] = WebhookSender(hook, environ)
        for mail in settings.email:
            self.senders[mail.name] = MailSender(mail, environ)
        self._takes = {
            channel.name: set(channel.events or settings.events) for channel in settings.channels()
        }

    def take(self, item: OutboxEvent) -> None:
        if not self.senders:
            return
        kind = notify_kind(item, renews=None)
        if kind == "job_failed":  # a renewal's failure is told as such
            kind = notify_kind(item, renews=self.store.get_job(item.event.job_id).renews)
        if kind is None or kind not in self.config.notify.events:
            return
        for channel, kinds in self._takes.items():
            if kind in kinds:
                self.store.notifications.add(
                    event_id=item.id, channel=channel, job_id=item.event.job_id, kind=kind
                )

    def work(self) -> None:
        for row in self.store.notifications.due():
            if not self.still_ours():
                return
            self._deliver(row)

    def dead_letters(self) -> list[OutboxRow]:
        return self.store.notifications.all("dead")

    def _deliver(self, row: OutboxRow) -> None:
        channel, event_id = row.values["channel"], int(row.values["event_id"])
        sender = self.senders.get(channel)
        found = self.store.outbox.pending(event_id - 1, limit=1)
        try:
            if sender is None:
                raise NotificationRefused(f"channel {channel!r} is no longer configured")
            if not found or found[0].id != event_id:
                raise NotificationRefused(f"event {event_id} is no longer in the history")
            item = found[0]
            sender.send(self._notice(item, row.values["kind"]))
        except TwowayError as exc:
            final = isinstance(exc, NotificationRefused) or row.attempts + 1 >= self.backoff.tries
            if final:
                self._dead(row, exc)
            else:
                at = self.store.notifications.retry(row, self.backoff, exc.message)
                _log.warning("notification_retry", channel=channel, next_at=at.isoformat())
            return
        self.store.notifications.settle(row, "sent")
        _log.info("notification_sent", channel=channel, event_id=event_id, kind=row.values["kind"])

    def _notice(self, item: OutboxEvent, kind: str) -> Notice:
        job = self.store.get_job(item.event.job_id)
        waits = kind in ("waiting_for_ca", "waiting_for_third_party")
        deadline = (
            wait_deadline(self.config, job, item.event.state, item.event.at) if waits else None
        )
        return notice_for(
            item, kind, job, deadline=deadline, console_url=self.config.notify.console_url
        )

    def _dead(self, row: OutboxRow, exc: TwowayError) -> None:
        self.store.notifications.settle(row, "dead", error=exc.message)
        channel = row.values["channel"]
        detail = {"channel": channel, "notice": row.values["kind"], "attempts": row.attempts + 1}
        with contextlib.suppress(JobNotFound):  # a job the store no longer keeps
            self.store.note(row.values["job_id"], "notification_dead", {**detail, **exc.as_dict()})
        _log.error("notification_dead", channel=channel, error=exc.message)
