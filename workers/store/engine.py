"""Engines for the store: SQLite (default, one host) and PostgreSQL (several hosts).

SQLite runs in WAL mode with a busy timeout; write transactions start ``BEGIN IMMEDIATE``
so that two processes never deadlock upgrading a read lock. PostgreSQL serialises writes
to one job with ``SELECT ... FOR UPDATE`` on its row (see store.py).

PostgreSQL with failover: the URL may list several hosts, libpq's way
(``postgresql://u:p@db1:5432,db2:5432/twoway?target_session_attrs=read-write``); every new
connection goes to the host that takes writes now. Unless the URL says otherwise, each
connection gets ``connect_timeout=5`` (a host that is down or cut off costs 5 s before the
next is tried) and TCP keepalives (idle 10 s, every 5 s, 3 probes: a session whose host
vanished is noticed in about 25 s). Opening a connection is retried for up to
:data:`CONNECT_PATIENCE_S` (a failover: the old primary is gone and the replica not yet
promoted): nothing has been done on it, so that is always safe. A connection lost in the
middle of a transaction is not retried here: see ``Writer`` (workers/store/writer.py).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import Dialect

from workers.errors import ConfigError

__all__ = ["CONNECT_PATIENCE_S", "PG_CONNECTION_DEFAULTS", "make_engines", "normalise_url"]

_log = structlog.get_logger("twoway.store")
CONNECT_PATIENCE_S = 30.0
PG_CONNECTION_DEFAULTS: dict[str, str] = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}

_WAL_PATIENCE_S = 30.0


def normalise_url(url: str) -> str:
    """Accept the usual spellings: postgresql:// and postgres:// mean psycopg 3."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return _postgres("postgresql+psycopg://" + url[len(plain) :])
    if url.startswith("postgresql+psycopg://"):
        return _postgres(url)
    if url.startswith("sqlite://"):
        return url
    raise ConfigError(
        "TWOWAY_DATABASE_URL must be sqlite:///PATH or postgresql://USER@HOST/DB",
        hint="the store supports SQLite and PostgreSQL",
    )


def _postgres(url: str) -> str:
    """libpq's host list (``h1:5432,h2:5432`` in the authority) as SQLAlchemy's repeated
    ``host=`` query parameters, and :data:`PG_CONNECTION_DEFAULTS` where the URL is silent."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    login, at, hosts = parts.netloc.rpartition("@")
    if "," in hosts:
        query = [(key, value) for key, value in query if key != "host"]
        query += [("host", host) for host in hosts.split(",") if host]
        parts = parts._replace(netloc=f"{login}{at}")
    given = {key for key, _ in query}
    query += [(key, value) for key, value in PG_CONNECTION_DEFAULTS.items() if key not in given]
    return urlunsplit(parts._replace(query=urlencode(query)))


def make_engines(url: str) -> tuple[Engine, Engine]:
    """A (reader, writer) pair; for PostgreSQL both are the same engine."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite(url, immediate=False), _sqlite(url, immediate=True)
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    event.listen(engine, "do_connect", _patient_connect(engine.dialect))
    return engine, engine


def _patient_connect(dialect: Dialect) -> Any:
    """Open a DBAPI connection, retrying for up to CONNECT_PATIENCE_S (a failover)."""

    def connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        deadline = time.monotonic() + CONNECT_PATIENCE_S
        pause = 0.25
        while True:
            try:
                return dialect.loaded_dbapi.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError as exc:
                if time.monotonic() + pause > deadline:
                    raise
                _log.warning("store_unreachable", retry_in_s=pause, error=str(exc)[:200])
                time.sleep(pause)
                pause = min(pause * 2, 2.0)

    return connect


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
