"""Engines for the store: SQLite (default, one host) and PostgreSQL (several hosts).

SQLite runs in WAL mode with a busy timeout; write transactions start ``BEGIN IMMEDIATE``
so that two processes never deadlock upgrading a read lock. PostgreSQL serialises writes
to one job with ``SELECT ... FOR UPDATE`` on its row (see store.py).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event

from workers.errors import ConfigError

__all__ = ["make_engines", "normalise_url"]

_WAL_PATIENCE_S = 30.0


def normalise_url(url: str) -> str:
    """Accept the usual spellings: postgresql:// and postgres:// mean psycopg 3."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    raise ConfigError(
        "TWOWAY_DATABASE_URL must be sqlite:///PATH or postgresql://USER@HOST/DB",
        hint="the store supports SQLite and PostgreSQL",
    )


def make_engines(url: str) -> tuple[Engine, Engine]:
    """A (reader, writer) pair; for PostgreSQL both are the same engine."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite(url, immediate=False), _sqlite(url, immediate=True)
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    return engine, engine


_SQLITE_AT_LEAST = (3, 35, 0)  # INSERT ... RETURNING


def _sqlite(url: str, *, immediate: bool) -> Engine:
    if sqlite3.sqlite_version_info < _SQLITE_AT_LEAST:
        raise ConfigError(
            f"the store needs SQLite 3.35 or newer; this Python links {sqlite3.sqlite_version}",
            hint="use a Python built against a newer SQLite, or PostgreSQL"
            " (TWOWAY_DATABASE_URL=postgresql://...)",
        )
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _use_wal(cursor: Any) -> None:
    """Switch the database file to WAL (a setting the file keeps), tolerating a race.

    Several processes opening a new store at once all try the switch; SQLite answers
    the losers "database is locked" at once, without consulting the busy timeout. The
    winner's switch is what we wanted, so read the mode again and retry a few times.
    """
    deadline = time.monotonic() + _WAL_PATIENCE_S
    delay = 0.01
    while True:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
