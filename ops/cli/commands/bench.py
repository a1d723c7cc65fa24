"""``twoway bench``: measure the pipeline against the floor and the keytool runbook."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ops.cli.commands.gateway import processes as gateway_processes
from ops.cli.commands.remote import non_negative, positive
from ops.cli.output import table

__all__ = ["register"]


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmark: pipeline vs. plain processes vs. keytool")
    bench.add_argument("--jobs", type=positive, default=50, help="jobs through the pipeline")
    bench.add_argument("--key", choices=["rsa2048", "ec256"], default="ec256")
    bench.add_argument("--workers", type=positive, default=2, help="worker (and floor) processes")
    bench.add_argument("--threads", type=positive, default=4, help="threads per worker")
    bench.add_argument(
        "--runbook-jobs", type=non_negative, default=5, help="jobs of the keytool runbook"
    )
    bench.add_argument("--paused", type=non_negative, default=0, help="jobs parked at wait-for-ca")
    bench.add_argument(
        "--gateway-processes",
        type=gateway_processes,
        default=1,
        help="gateway processes taking the paused jobs' callbacks (twoway gateway --processes)",
    )
    bench.add_argument(
        "--database-url",
        type=database_url,
        help="the store to use, an empty PostgreSQL database (default: a new SQLite file)",
    )
    latency = bench.add_argument_group(
        "an instance with real latency (replaces the floor/runbook comparison)"
    )
    latency.add_argument(
        "--instance-latency-ms",
        type=float,
        help="each sandbox call takes about this long (uniform within +-50%%)",
    )
    latency.add_argument(
        "--instance-concurrency",
        type=int,
        default=8,
        help="calls the sandbox serves at once; the rest queue (default 8)",
    )
    latency.add_argument(
        "--max-concurrent-calls",
        type=int,
        help="twoway's limit for the instance (default: --instance-concurrency)",
    )
    latency.add_argument(
        "--slow-instance-latency-ms",
        type=float,
        help="also a second instance this slow, saturated while the first one's jobs run",
    )
    scale = bench.add_argument_group(
        "a store of many jobs (replaces the pipeline comparison): every route at two sizes"
    )
    scale.add_argument(
        "--store-jobs",
        type=positive,
        help="fill the store with this many copies of real jobs and time every route,"
        " lever pass and /metrics, also at --store-jobs-small, with growth ratios",
    )
    scale.add_argument(
        "--store-jobs-small", type=positive, help="the smaller size (default: a tenth)"
    )
    scale.add_argument(
        "--due",
        type=float,
        default=0.0,
        help="share of renewal chains whose current certificate is past its renewal point",
    )
    scale.add_argument(
        "--explain",
        action="store_true",
        help="also print the plans of the list and due-certificate queries (PostgreSQL)",
    )
    scale.add_argument(
        "--no-retention",
        action="store_true",
        help="skip applying the bench's retention policy at the end",
    )
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(run=_bench)


def database_url(text: str) -> str:
    """A store URL the store accepts (SQLite or PostgreSQL), as given."""
    from workers.errors import ConfigError
    from workers.store.engine import normalise_url

    try:
        normalise_url(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(
            "sqlite:///PATH or postgresql://USER@HOST/DB (an empty database), not another scheme"
        ) from exc
    return text


def _bench(args: argparse.Namespace) -> int:
    import sys

    from messages import KeyType
    from ops.bench import BenchOptions, run_bench
    from workers.logs import configure_logging

    configure_logging(stream=sys.stderr, level="WARNING")  # stdout carries the result only
    if args.store_jobs is not None:
        return _scale_bench(args)
    if args.instance_latency_ms is not None:
        return _latency_bench(args)
    result = run_bench(
        BenchOptions(
            jobs=args.jobs,
            key=KeyType(args.key),
            workers=args.workers,
            threads=args.threads,
            runbook_jobs=args.runbook_jobs,
            paused=args.paused,
            database_url=args.database_url,
            gateway_processes=args.gateway_processes,
        )
    )
    if args.json:
        print(json.dumps(result))
        return 0
    scalars = [(k, v) for k, v in result.items() if not isinstance(v, dict)]
    print(table(scalars, ["measure", "value"]))
    stages = [(s, v["p50"], v["p95"], v["p99"]) for s, v in result["stage_latency_ms"].items()]
    print()
    print(table(stages, ["stage", "p50 ms", "p95 ms", "p99 ms"]))
    return 0


def _latency_bench(args: argparse.Namespace) -> int:
    from messages import KeyType
    from ops.bench.latency import LatencyOptions, run_latency_bench

    result = run_latency_bench(
        LatencyOptions(
            jobs=args.jobs,
            key=KeyType(args.key),
            workers=args.workers,
            threads=args.threads,
            latency_ms=args.instance_latency_ms,
            concurrency=args.instance_concurrency,
            limit=args.max_concurrent_calls,
            slow_latency_ms=args.slow_instance_latency_ms,
            database_url=args.database_url,
        )
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(table(list(result.items()), ["measure", "value"]))
    return 0


def _scale_bench(args: argparse.Namespace) -> int:
    from ops.bench.scale import ScaleOptions, run_scale

    small = args.store_jobs_small or max(1, args.store_jobs // 10)
    result = run_scale(
        ScaleOptions(
            sizes=(small, args.store_jobs),
            postgres_url=args.database_url
            if args.database_url and not args.database_url.startswith("sqlite")
            else None,
            due=args.due,
            explain=args.explain,
            retention=not args.no_retention,
        )
    )
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        print(f"store: {result.store}")
        print(table(result.rows(), result.headers()))
        if result.retention is not None:
            print(f"retention (bench policy) removed: {json.dumps(result.retention)}")
        for name, plan in (result.plans or {}).items():
            print(f"\n-- {name}\n{plan}")
    return 0
