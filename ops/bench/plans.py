"""The plans of the store's list and due-certificate queries, as PostgreSQL runs them.

Each read is called as the gateway calls it; the statement it sends is caught on its
way to the database and run again under ``EXPLAIN (ANALYZE, BUFFERS)``: the plans are
those of the real statements, with their real parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event

from messages import WAITING_STATES, JobState
from ops.dev.stack import RunningStack

__all__ = ["explain_reads"]


def _caught(engine: Engine, read: Callable[[], object]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        read()
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    return seen


def explain_reads(stack: RunningStack, depth: int) -> dict[str, str]:
    """Each read's plan (PostgreSQL only: an empty dict on SQLite)."""
    store = stack.app.store
    engine = store._reader
    if engine.dialect.name != "postgresql":
        return {}
    now = datetime.now(UTC)
    deep = store.list_jobs(limit=1, offset=depth)[0]  # a page ``depth`` jobs down
    cursor = (deep.created_at, deep.id)
    reads: dict[str, Callable[[], object]] = {
        "jobs, first page": lambda: store.list_jobs(limit=51),
        "jobs, a page by cursor": lambda: store.list_jobs(limit=51, after=cursor),
        "jobs of a state, by cursor": lambda: store.list_jobs(
            states=[JobState.SUCCEEDED], limit=51, after=cursor
        ),
        "jobs of a target": lambda: store.list_jobs(target="Scale c7", limit=51),
        "waiting jobs, a page": lambda: store.list_waiting(WAITING_STATES, limit=101),
        "due certificates, a page": lambda: store.certificates.due(now, limit=500),
        "certificates, a page": lambda: store.certificates.page(now, limit=100),
    }
    plans = {}
    for name, read in reads.items():
        caught = _caught(engine, read)
        for number, (statement, parameters) in enumerate(caught, start=1):
            with engine.connect() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                query = f"EXPLAIN (ANALYZE, BUFFERS) {statement}"
                rows = raw.execute(query, parameters).fetchall()
            label = f"{name} ({number} of {len(caught)})" if len(caught) > 1 else name
            plans[label] = "\n".join(row[0] for row in rows)
    return plans
