"""The job store: SQLite by default, PostgreSQL for several hosts."""

from .progress import LeaseHeld, RecordedOutput
from .records import Begin, JobRecord
from .store import EventListener, Note, Store, request_sha256

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
