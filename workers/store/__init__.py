"""The job store: SQLite by default, PostgreSQL for several hosts."""

from workers.store.progress import LeaseHeld, RecordedOutput
from workers.store.records import Begin, JobRecord
from workers.store.store import EventListener, Note, Store, request_sha256

__all__ = [
    "Begin",
    "EventListener",
    "JobRecord",
    "LeaseHeld",
    "Note",
    "RecordedOutput",
    "Store",
    "request_sha256",
]
