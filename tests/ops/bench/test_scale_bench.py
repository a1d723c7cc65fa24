"""``twoway bench --store-jobs``, small: it fills a store with copies of real jobs and
prints its table (every route and lever at both sizes, growth, size per job, retention).
The benchmark itself (100,000 jobs) is run by hand: docs/scale.md."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from ops.bench.routes import BENCH_RETENTION
from ops.bench.scale import ScaleOptions, run_scale
from ops.cli.output import table


def test_a_small_scale_bench_prints_its_table() -> None:
    result = run_scale(ScaleOptions(sizes=(100, 300), samples=2, budget_s=1))
    printed = table(result.rows(), result.headers())
    for figure in ("GET /v1/jobs (deep cursor)", "GET /v1/certificates", "GET /metrics",
                   "GET /ui/jobs", "scheduler pass", "poller pass", "sweeper pass",
                   "store bytes per job", "store bytes per job, after retention"):  # fmt: skip
        assert figure in printed
    assert "p95 ms @300" in printed and "p95 growth" in printed
    assert all(len(timings) == 2 for timings in result.figures.values())
    assert result.figures["GET /metrics"][1].size > 0
    assert result.retention is not None and result.retention["jobs"] > 0
    assert result.retained_bytes_per_job is not None
    assert result.retained_bytes_per_job < result.bytes_per_job[-1]
    assert BENCH_RETENTION["artifacts_days"] == 30


def test_the_copies_are_jobs_of_the_store() -> None:
    """Every copy reads back as a job with its history (the fill writes what the
    pipeline writes): a check on the filler, through the store's own reads."""
    from ops.bench.copies import Filler
    from ops.bench.seed import seed_templates
    from ops.dev.stack import Stack, StackOptions
    from workers.store import schema as t

    with Stack(StackOptions(broker="stub")).start() as stack:
        templates = seed_templates(stack)
        engine = stack.app.store._writer.engine
        Filler(engine, templates).fill(200)
        store = stack.app.store
        with engine.connect() as conn:
            jobs = conn.execute(select(func.count()).select_from(t.jobs)).scalar()
        assert jobs == 204
        page = store.list_jobs(limit=200)
        assert all(store.history(job.id) for job in page[:20])
        listed = store.certificates.page(datetime.now(UTC), limit=500)
        assert len(listed) == 168 + 2  # 84 % of the copies succeeded, and two templates
