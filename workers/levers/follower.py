"""A periodic task that follows the history like the events relay does, then works an
outbox: the base of the revoker and the notifier.

Each round takes the cursor's lease (``twoway_relay`` row ``name``: one follower of a
name at a time across all processes), hands every new event to ``take`` (which must be
idempotent: a follower that died before moving the cursor hands the same events again),
moves the cursor on, then calls ``work`` while it still holds the lease (``work``
calls ``still_ours`` between items: it renews the lease, and says whether it held).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from workers.levers.periodic import Periodic
from workers.store import Store
from workers.store.outbox import OutboxEvent

__all__ = ["HistoryFollower"]

_BATCH = 200


class HistoryFollower(Periodic):
    cursor = "follower"
    lease = timedelta(minutes=2)

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self._owner = f"{self.cursor}-{uuid.uuid4().hex[:12]}"
        self._at = 0

    def take(self, item: OutboxEvent) -> None:
        raise NotImplementedError

    def work(self) -> None:
        raise NotImplementedError

    def still_ours(self) -> bool:
        """Renew the lease for another item of ``work``; False when it was lost."""
        outbox = self.store.outbox
        return outbox.advance(self._owner, to=self._at, lease=self.lease, name=self.cursor)

    def run_once(self) -> bool:
        """One round; False when another process holds the lease."""
        outbox = self.store.outbox
        self._at = outbox.cursor(self.cursor).last_event_id
        if not outbox.claim(self._owner, at=self._at, lease=self.lease, name=self.cursor):
            return False
        try:
            while batch := outbox.pending(self._at, limit=_BATCH):
                for item in batch:
                    self.take(item)
                self._at = batch[-1].id
                if not self.still_ours():
                    return False
            self.work()
        finally:
            outbox.release(self._owner, name=self.cursor)
        return True
