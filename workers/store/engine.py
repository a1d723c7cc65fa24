"""Engines for the store: SQLite (default, one host) and PostgreSQL (several hosts).

SQLite runs in WAL mode with a busy timeout; write transactions start ``BEGIN IMMEDIATE``
so that two processes never deadlock upgrading a read lock. PostgreSQL serialises writes
to one job with ``SELECT ... FOR UPDATE`` on its row (see store.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

from ..errors import ConfigError

__all__ = ["make_engines", "normalise_url"]


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
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
