"""Time the gateway's routes over HTTP (API with a token, console with a session), the
periodic levers' passes, and the store's size."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import requests
from sqlalchemy import Engine, select, text

from ops.bench.stats import percentile
from ops.dev.stack import RunningStack
from ops.gateway.jobs_list import encode_cursor
from workers.store import schema as t

__all__ = [
    "BENCH_RETENTION",
    "Timing",
    "apply_retention",
    "lever_passes",
    "route_timings",
    "store_size",
]

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p95_ms: float
    size: int  # bytes of the last answer (0 for a pass)
    samples: int


def _time(call: Callable[[], int], *, samples: int, budget_s: float) -> Timing:
    """Run ``call`` up to ``samples`` times, or as often as ``budget_s`` allows (once at least)."""
    took: list[float] = []
    size = 0
    started = time.monotonic()
    while len(took) < samples and not (took and time.monotonic() - started >= budget_s):
        begun = time.perf_counter()
        size = call()
        took.append((time.perf_counter() - begun) * 1000)
    return Timing(round(percentile(took, 50), 2), round(percentile(took, 95), 2), size, len(took))


def _console(stack: RunningStack) -> requests.Session:
    session = requests.Session()
    base = stack.gateway.url
    form = session.get(f"{base}/ui/signin", timeout=30)
    match = _CSRF.search(form.text)
    assert match, "the console's sign-in form has no CSRF token"
    data = {"token": stack.token, "csrf": match[1], "next": "/ui/jobs"}
    session.post(f"{base}/ui/signin", data=data, timeout=30, allow_redirects=False)
    return session


def _deep_cursor(stack: RunningStack, depth: int, state: str | None = None) -> str:
    """The cursor of the page that starts ``depth`` jobs down the list (the newest first)."""
    jobs = t.jobs
    query = select(jobs.c.created_at, jobs.c.id).order_by(jobs.c.created_at.desc(), jobs.c.id)
    if state is not None:
        query = query.where(jobs.c.state == state)
    engine = stack.app.store._reader
    with engine.connect() as conn:
        row = conn.execute(query.limit(1).offset(depth)).first()
    assert row is not None
    created = row.created_at
    return encode_cursor(created.replace(tzinfo=created.tzinfo or UTC), row.id)


def _routes(stack: RunningStack, a_job: str, depth: int) -> dict[str, str]:
    deep = _deep_cursor(stack, depth)
    deep_succeeded = _deep_cursor(stack, depth // 2, "succeeded")
    return {
        "GET /healthz": "/healthz",
        "GET /v1/jobs": "/v1/jobs",
        "GET /v1/jobs (deep cursor)": f"/v1/jobs?cursor={deep}",
        "GET /v1/jobs?state=failed": "/v1/jobs?state=failed",
        "GET /v1/jobs?state=succeeded (deep)": f"/v1/jobs?state=succeeded&cursor={deep_succeeded}",
        "GET /v1/jobs?stage=verify": "/v1/jobs?stage=verify",
        "GET /v1/jobs?instance=sandbox": "/v1/jobs?instance=sandbox",
        "GET /v1/jobs/waiting": "/v1/jobs/waiting",
        "GET /v1/jobs/{id}": f"/v1/jobs/{a_job}",
        "GET /v1/certificates": "/v1/certificates",
        "GET /metrics": "/metrics",
        "GET /ui/jobs": "/ui/jobs",
        "GET /ui/jobs.json (refresh)": "/ui/jobs.json",
        "GET /ui/jobs?target=": "/ui/jobs?target=Scale%20c7",
        "GET /ui/jobs (deep cursor)": f"/ui/jobs?cursor={deep}",
        "GET /ui/jobs/{id}": f"/ui/jobs/{a_job}",
        "GET /ui/waiting": "/ui/waiting",
        "GET /ui/certificates": "/ui/certificates",
    }


def route_timings(
    stack: RunningStack, a_job: str, depth: int, *, samples: int = 20, budget_s: float = 20
) -> dict[str, Timing]:
    """Each route's p50/p95 (``depth``: how far down the deep cursor pages start)."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {stack.token}"
    console = _console(stack)
    out: dict[str, Timing] = {}
    for name, path in _routes(stack, a_job, depth).items():
        client = console if path.startswith("/ui") else api
        url = f"{stack.gateway.url}{path}"

        def call(client: requests.Session = client, url: str = url) -> int:
            answer = client.get(url, timeout=600, allow_redirects=False)
            answer.raise_for_status()
            return len(answer.content)

        out[name] = _time(call, samples=samples, budget_s=budget_s)
    return out


def lever_passes(
    stack: RunningStack, *, samples: int = 3, budget_s: float = 60
) -> dict[str, Timing]:
    """One pass of the scheduler, the poller and the sweeper, timed (a few times)."""
    levers: dict[str, Callable[[], object]] = {
        "scheduler pass": stack.scheduler.run_once,
        "poller pass": stack.poller.run_once,
        "sweeper pass": stack.sweeper.run_once,
    }
    out = {}
    for name, run in levers.items():

        def call(run: Callable[[], object] = run) -> int:
            run()
            return 0

        out[name] = _time(call, samples=samples, budget_s=budget_s)
    return out


_TABLES = ("twoway_jobs", "twoway_events", "twoway_artifacts", "twoway_outputs")


def store_size(engine: Engine) -> dict[str, int]:
    """Bytes on disk of the store's job tables (with their indexes), by table."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            query = text(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = current_schema() AND tablename LIKE 'twoway%'"
            )
            names = [row[0] for row in conn.execute(query).all()]
            return {
                name: int(
                    conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": name}).scalar()
                    or 0
                )
                for name in names
            }
        pages = conn.execute(text("PRAGMA page_count")).scalar() or 0
        page_size = conn.execute(text("PRAGMA page_size")).scalar() or 0
        return {"database file": int(pages) * int(page_size)}


# The bench's retention policy: artifacts 30 days and histories 90 days after a renewal
# replaced a certificate and its old keystore record was deleted; ended jobs' after 30.
BENCH_RETENTION = {"artifacts_days": 30, "history_days": 90, "ended_days": 30, "batch": 2000}


def apply_retention(stack: RunningStack, engine: Engine) -> tuple[Timing, dict[str, Any]]:
    """Rounds of retention until nothing is left to prune (the first round timed), then
    the space given back (VACUUM FULL / VACUUM) so that the store's size shows it."""
    from workers.config.retention import RetentionSettings
    from workers.levers.retention import Retention

    lever = Retention(stack.app)
    lever.settings = RetentionSettings(**BENCH_RETENTION)
    totals: dict[str, Any] = {"rounds": 0, "jobs": 0, "bytes": 0, "events": 0}
    first: Timing | None = None
    while True:
        begun = time.perf_counter()
        report = lever.run_once()
        took = (time.perf_counter() - begun) * 1000
        first = first or Timing(round(took, 2), round(took, 2), 0, 1)
        totals["rounds"] += 1
        for key in ("bytes", "events"):
            totals[key] += getattr(report, key)
        totals["jobs"] += len(report.jobs)
        if not report.jobs:
            break
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in _TABLES:
                conn.execute(text(f"VACUUM FULL ANALYZE {table}"))
    else:
        raw = engine.raw_connection()  # outside SQLAlchemy's BEGIN (engine.py)
        try:
            raw.cursor().execute("VACUUM")
        finally:
            raw.close()
    return first, totals
