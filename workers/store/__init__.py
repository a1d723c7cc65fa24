"""The job store: SQLite by default, PostgreSQL for several hosts."""

from .records import JobRecord
from .store import EventListener, Store, request_sha256

__all__ = ["EventListener", "JobRecord", "Store", "request_sha256"]
