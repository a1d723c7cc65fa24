"""CA callback signatures already accepted: a replayed callback is refused everywhere.

Only the SHA-256 of a signature is kept, with the time it was first used. A signature is
bound to its timestamp, which is accepted for a limited window either side of now, so an
entry older than twice that window can never match an acceptable request again and is
purged.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from . import schema as t
from .engine import Writer

__all__ = ["CallbackSignatures"]


class CallbackSignatures:
    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def claim(self, signature: str, job_id: str, *, keep: timedelta) -> bool:
        """Record ``signature`` as used; False when it was used before (a replay)."""
        now = datetime.now(UTC)
        table = t.callback_signatures
        digest = hashlib.sha256(signature.encode()).hexdigest()
        try:
            with self._writer.begin() as conn:
                conn.execute(table.delete().where(table.c.used_at < now - keep))
                conn.execute(insert(table).values(sha256=digest, job_id=job_id, used_at=now))
        except IntegrityError:
            return False
        return True
