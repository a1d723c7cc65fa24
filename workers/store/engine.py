"""Engines for the store: SQLite (default, one host) and PostgreSQL (several hosts).

SQLite runs in WAL mode with a busy timeout; write transactions start ``BEGIN IMMEDIATE``
so that two processes never deadlock upgrading a read lock. PostgreSQL serialises writes
to one job with ``SELECT ... FOR UPDATE`` on its row (see store.py).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, create_engine, event

from ..errors import ConfigError

__all__ = ["Writer", "make_engines", "normalise_url"]

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


def _sqlite(url: str, *, immediate: bool) -> Engine:
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


class Writer:
    """The engine the store writes through: ``begin()`` opens one write transaction.

    SQLite has one write lock per database, and its busy handler waits for it by
    sleeping in growing steps (1, 2, 5, 10 ... 100 ms) that cannot be cut short: a
    writer that finds the lock taken for a millisecond sleeps for several. So on SQLite
    writers queue for their turn before they ask SQLite: a process's threads on a Python
    lock, and processes on an ``flock`` of a file beside the database; both hand over the
    moment the holder lets go. SQLite's busy timeout still covers writers that are not
    twoway (the sqlite3 shell, a backup). PostgreSQL locks rows; its writers run in
    parallel.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: Dialect = engine.dialect
        sqlite = engine.dialect.name == "sqlite"
        self._turn = threading.RLock() if sqlite else None  # a nested begin() errors, not hangs
        database = engine.url.database if sqlite else None
        in_memory = not database or database == ":memory:" or database.startswith("file:")
        self._hosts = None if in_memory else _FileLock(f"{database}-writers.lock")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        if self._turn is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._turn:  # write transactions do not nest: SQLite has one write lock
            if self._hosts is not None:
                self._hosts.acquire()
            try:
                with self.engine.begin() as conn:
                    yield conn
            finally:
                if self._hosts is not None:
                    self._hosts.release()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._hosts is not None:
            self._hosts.close()


class _FileLock:
    """An exclusive ``flock`` on a file, shared by every process that opens the same path.

    The kernel wakes the next waiter when the holder unlocks (or dies: the lock goes with
    its file descriptor), so a dead worker never leaves it taken. A forked child opens its
    own descriptor, since a shared one would share the lock with the parent.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1
        self._pid = -1

    def _descriptor(self) -> int:
        if self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        fcntl.flock(self._descriptor(), fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, -1
