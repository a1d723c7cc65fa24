"""``twoway bench --store-jobs N``: every route and lever at two store sizes, side by side.

One stack (in-process workers on the stub broker, the sandbox instance, the local and
manual CAs) runs the template jobs (``seed.py``); the store is then filled with copies
of them (``copies.py``) to the smaller size, measured, filled on to the larger size and
measured again. Each figure is printed at both sizes with its growth ratio. The stack's
own periodic threads are stopped first: the bench runs each lever's pass itself.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ops.bench.copies import Filler
from ops.bench.plans import explain_reads
from ops.bench.routes import Timing, apply_retention, lever_passes, route_timings, store_size
from ops.bench.seed import seed_templates
from ops.dev.stack import RunningStack, Stack, StackOptions

__all__ = ["ScaleOptions", "ScaleResult", "run_scale"]


@dataclass
class ScaleOptions:
    sizes: tuple[int, ...] = (10_000, 100_000)
    # An empty PostgreSQL database (a schema of its own is made in it), or None: SQLite.
    postgres_url: str | None = None
    due: float = 0.0  # share of renewal chains whose last certificate is due
    samples: int = 20
    budget_s: float = 20.0
    explain: bool = False  # the plans of the list and due queries at the largest size
    retention: bool = True  # apply a retention policy at the end, and measure the store


@dataclass
class ScaleResult:
    store: str
    sizes: tuple[int, ...]
    figures: dict[str, list[Timing]]  # by figure, one per size
    bytes_per_job: list[float]
    store_bytes: list[dict[str, int]]
    # After retention (BENCH_RETENTION) at the largest size, and what it removed.
    retained_bytes_per_job: float | None = None
    retained_store_bytes: dict[str, int] | None = None
    retention: dict[str, Any] | None = None
    plans: dict[str, str] | None = None

    def rows(self) -> list[tuple[Any, ...]]:
        """(figure, p50 and p95 at each size, the p95's growth from the first size)."""
        out: list[tuple[Any, ...]] = []
        for name, timings in self.figures.items():
            cells: list[Any] = [name]
            for timing in timings:
                cells += [timing.p50_ms, timing.p95_ms]
            first, last = timings[0].p95_ms, timings[-1].p95_ms
            cells.append(round(last / first, 2) if first else "-")
            sizes = [t.size for t in timings]
            cells.append(" / ".join(_kb(s) for s in sizes) if any(sizes) else "")
            out.append(tuple(cells))
        per_job = [round(b) for b in self.bytes_per_job]
        growth = round(per_job[-1] / per_job[0], 2) if per_job[0] else "-"
        row: list[Any] = ["store bytes per job"]
        for value in per_job:
            row += ["", value]
        out.append((*row, growth, ""))
        if self.retained_bytes_per_job is not None:
            cells = [""] * (2 * len(self.sizes) - 1) + [round(self.retained_bytes_per_job)]
            out.append(("store bytes per job, after retention", *cells, "", ""))
        return out

    def headers(self) -> list[str]:
        cells = ["figure"]
        for size in self.sizes:
            cells += [f"p50 ms @{size:,}", f"p95 ms @{size:,}"]
        return [*cells, "p95 growth", "answer size"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "sizes": list(self.sizes),
            "figures": {k: [vars(t) for t in v] for k, v in self.figures.items()},
            "bytes_per_job": self.bytes_per_job,
            "store_bytes": self.store_bytes,
            "retained_bytes_per_job": self.retained_bytes_per_job,
            "retained_store_bytes": self.retained_store_bytes,
            "retention": self.retention,
            "plans": self.plans,
        }


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"


@contextlib.contextmanager
def _schema(url: str | None) -> Iterator[str | None]:
    """A schema of the bench's own in ``url``'s database, dropped afterwards."""
    if url is None:
        yield None
        return
    import psycopg

    schema = f"twoway_bench_{secrets.token_hex(4)}"
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in plain else "?"
        yield f"{plain}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run_scale(options: ScaleOptions) -> ScaleResult:
    with _schema(options.postgres_url) as url:
        options_ = StackOptions(broker="stub", worker_threads=4, database_url=url)
        with Stack(options_) as stack:
            return _measure(stack, options)


def _measure(stack: RunningStack, options: ScaleOptions) -> ScaleResult:
    templates = seed_templates(stack)
    for periodic in (stack.poller, stack.scheduler, stack.sweeper):
        periodic.stop()  # the bench runs each pass itself
    engine = stack.app.store._writer.engine
    filler = Filler(engine, templates, due=options.due)
    figures: dict[str, list[Timing]] = {}
    per_job: list[float] = []
    sizes: list[dict[str, int]] = []
    for size in options.sizes:
        filler.fill(size)
        timings = route_timings(
            stack,
            templates.renewal,
            depth=size // 2,
            samples=options.samples,
            budget_s=options.budget_s,
        )
        timings |= lever_passes(stack, budget_s=options.budget_s)
        for name, timing in timings.items():
            figures.setdefault(name, []).append(timing)
        held = store_size(engine)
        sizes.append(held)
        per_job.append(sum(held.values()) / (size + 4))
    store = "postgresql" if options.postgres_url else "sqlite"
    result = ScaleResult(store, options.sizes, figures, per_job, sizes)
    if options.explain and hasattr(stack.app.store, "list_waiting"):
        result.plans = explain_reads(stack, options.sizes[-1] // 2)
    if options.retention and hasattr(stack.app.store, "prune"):  # a store with retention
        first_round, result.retention = apply_retention(stack, engine)
        figures["retention round (first)"] = [Timing(0, 0, 0, 0)] * (len(options.sizes) - 1) + [
            first_round
        ]
        result.retained_store_bytes = store_size(engine)
        total = options.sizes[-1] + 4
        result.retained_bytes_per_job = sum(result.retained_store_bytes.values()) / total
    return result
