"""The one way the store writes: ``Writer.begin()`` gives a write transaction.

PostgreSQL locks rows and runs writers in parallel: each ``begin()`` is a transaction of
its own.

SQLite has one write lock for the whole database, shared by every process (gateway and
workers). Within a process, threads queue for it on a Python lock first, so at most one of
them waits inside SQLite: SQLite's busy handler sleeps in growing steps (up to 100 ms) and
cannot be woken, so a crowd waiting there leaves the lock idle between sleeps.

And the threads queued behind each other share one commit (group commit). The thread that
finds no transaction open opens one (``BEGIN IMMEDIATE``); each caller's work runs in a
SAVEPOINT of it; a caller that finishes while others are queued hands the transaction to
the next and waits; the last of the group (no one queued, or ``GROUP_MAX`` callers in it)
commits, and then every caller of the group returns. So:

- no ``begin()`` returns or raises before its group is committed (or rolled back): what
  a caller does next (publish, answer 202, or read again after a conflict with a row
  another caller of its group wrote) sees the group's writes committed, as it would
  with a transaction of its own;
- a caller whose work raises has its savepoint rolled back and gets its exception; the
  others' work is unaffected and is committed;
- if the commit itself fails, every caller of the group gets the error (none of their
  writes is there).

How long each ``begin()`` waited before its transaction was ready (its process's turn and
SQLite's lock; PostgreSQL: a pooled connection and ``BEGIN``) goes to ``on_wait`` if set:
the gauge of a store that has become the bottleneck.

A group pays one ``BEGIN IMMEDIATE`` (often a wait for another process to let go of the
lock) and one commit instead of one each, and hands the lock between processes once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Dialect, Engine, RootTransaction
from sqlalchemy.exc import DBAPIError

from workers.errors import StoreUnavailable

__all__ = ["Writer"]

GROUP_MAX = 16  # callers a commit may wait for: bounds the first caller's extra latency


@contextmanager
def _failover_is_unavailable() -> Iterator[None]:
    """A PostgreSQL connection lost inside a write (failover) as StoreUnavailable.

    Opening the connection was already retried (engine.py); what is lost here is a
    transaction that may or may not have committed, which only the caller can repeat.
    A failover also ends sessions on the old primary with "read-only transaction".
    """
    try:
        yield
    except DBAPIError as exc:
        read_only = "read-only transaction" in str(exc.orig)
        if not (exc.connection_invalidated or read_only):
            raise
        raise StoreUnavailable(
            "the store's connection was lost during a write (a database failover?);"
            " the write may not have been made",
            hint="retry: stages run again by themselves; repeat an API request with its"
            " Idempotency-Key",
        ) from exc


class _Group:
    """One open SQLite write transaction and the callers that joined it."""

    def __init__(self, conn: Connection, transaction: RootTransaction) -> None:
        self.conn = conn
        self.transaction = transaction
        self.members = 0
        self.broken: BaseException | None = None  # a savepoint could not be rolled back
        self.discard = False  # the opener's work raised: roll back, let no one join
        self.failed: BaseException | None = None  # the commit (or rollback) raised
        self.done = threading.Event()


class Writer:
    """The engine the store writes through (see the module's docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: Dialect = engine.dialect
        self._sqlite = engine.dialect.name == "sqlite"
        self._turn = threading.Lock()
        self._queue = threading.Lock()  # guards _queued
        self._queued = 0  # threads waiting for _turn
        self._group: _Group | None = None
        self._inside = threading.local()
        self.on_wait: Callable[[float], None] | None = None  # seconds until ready

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        started = time.monotonic()
        if not self._sqlite:
            with _failover_is_unavailable(), self.engine.begin() as conn:
                self._waited(started)
                yield conn
            return
        if getattr(self._inside, "active", False):
            raise RuntimeError("Writer.begin() inside a write transaction of the same thread")
        self._inside.active = True
        try:
            with self._queued_turn() as group:
                self._waited(started)
                yield from self._member(group)
        finally:
            self._inside.active = False

    def _waited(self, started: float) -> None:
        if self.on_wait is not None:
            self.on_wait(time.monotonic() - started)

    @contextmanager
    def _queued_turn(self) -> Iterator[_Group]:
        """Take the turn and the open group (opening one if none is), then finish the
        caller's part: hand over to a queued thread and wait, or commit."""
        with self._queue:
            self._queued += 1
        try:
            self._turn.acquire()
        finally:  # also if interrupted (a stage's time limit): never a phantom in the queue
            with self._queue:
                self._queued -= 1
        try:
            group = self._group or self._open()
        except BaseException:
            self._turn.release()
            raise
        group.members += 1
        try:
            yield group
        except BaseException:
            self._finish(group)  # the caller's own error is the one it gets
            raise
        self._finish(group, check=True)

    def _open(self) -> _Group:
        conn = self.engine.connect()
        try:
            transaction = conn.begin()  # BEGIN IMMEDIATE (engine.py)
        except BaseException:
            conn.close()
            raise
        self._group = _Group(conn, transaction)
        return self._group

    def _member(self, group: _Group) -> Iterator[Connection]:
        """One caller's work, in a savepoint of the group's transaction; the opener's
        needs none (alone, most often): if it raises, the transaction is rolled back."""
        if group.members == 1:
            try:
                yield group.conn
            except BaseException:
                group.discard = True
                raise
            return
        savepoint = group.conn.begin_nested()
        try:
            yield group.conn
        except BaseException:
            try:
                savepoint.rollback()
            except BaseException as exc:  # the transaction is gone (SQLite rolled it back)
                group.broken = exc
                raise
            raise
        try:
            savepoint.commit()  # RELEASE
        except BaseException as exc:
            group.broken = exc
            raise

    def _finish(self, group: _Group, *, check: bool = False) -> None:
        """Called holding the turn, after this caller's savepoint ended; with ``check``,
        raises if the group's writes were not committed."""
        with self._queue:
            others = self._queued
        if others and group.members < GROUP_MAX and group.broken is None and not group.discard:
            self._turn.release()
            group.done.wait()
        else:
            self._close(group)
        if not check:
            return
        if group.failed is not None:
            raise group.failed
        if group.broken is not None:
            raise RuntimeError("the store's write transaction failed") from group.broken

    def _close(self, group: _Group) -> None:
        try:
            if group.broken is None and not group.discard:
                group.transaction.commit()
            else:
                group.transaction.rollback()
        except BaseException as exc:
            group.failed = exc  # every caller of the group gets it
            raise
        finally:
            try:
                group.conn.close()
            finally:
                self._group = None
                self._turn.release()
                group.done.set()

    def dispose(self) -> None:
        self.engine.dispose()
