"""CA callback signatures already accepted: a replayed callback is refused everywhere.

Only the SHA-256 of a signature is kept, with the time it was first used. A signature is
bound to its timestamp, which is accepted for a limited window either side of now, so an
entry older than twice that window can never match an acceptable request again and is
purged.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from workers.errors import ReplayRefused
from workers.store import schema as t
from workers.store.writer import Writer

__all__ = ["CallbackSignatures"]


class CallbackSignatures:
    def __init__(self, reader: Engine, writer: Writer) -> None:
        self._reader = reader
        self._writer = writer

    def refuse_if_used(self, signature: str) -> None:
        """``ReplayRefused`` when ``signature`` was used already (a read, to refuse a replay
        early: the claim, in a write transaction, decides for good)."""
        with self._reader.connect() as conn:
            if conn.execute(_SEEN, {"sha256": _digest(signature)}).first() is not None:
                raise _replayed()

    def claim(self, signature: str, job_id: str, *, keep: timedelta) -> bool:
        """Record ``signature`` as used; False when it was used before (a replay)."""
        try:
            with self._writer.begin() as conn:
                self.claim_in(conn, signature, job_id, keep=keep)
        except ReplayRefused:
            return False
        return True

    @staticmethod
    def claim_in(conn: Connection, signature: str, job_id: str, *, keep: timedelta) -> None:
        """Record ``signature`` as used in the caller's transaction (which then commits or
        rolls back with it); ``ReplayRefused`` when it was used before."""
        now = datetime.now(UTC)
        conn.execute(_PURGE, {"before": now - keep})
        try:
            conn.execute(_INSERT, {"sha256": _digest(signature), "job_id": job_id, "used_at": now})
        except IntegrityError as exc:
            raise _replayed() from exc


def _replayed() -> ReplayRefused:
    return ReplayRefused(
        "this callback's signature was already used",
        hint="send a new callback with the current timestamp, signed anew",
    )


def _digest(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()


_TABLE = t.callback_signatures
_SEEN = select(_TABLE.c.sha256).where(_TABLE.c.sha256 == bindparam("sha256"))
_PURGE = _TABLE.delete().where(_TABLE.c.used_at < bindparam("before"))
_INSERT = insert(_TABLE)
