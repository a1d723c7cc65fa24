"""The job store: SQLite by default, PostgreSQL for several hosts."""

from .progress import LeaseHeld, RecordedOutput
from .records import Begin, JobRecord
from .store import EventListener, Store, request_sha256

__all__ = [
    "Begin",
    "EventListener",
    "JobRecord",
    "LeaseHeld",
    "RecordedOutput",
    "Store",
    "request_sha256",
]
