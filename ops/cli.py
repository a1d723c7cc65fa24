"""The ``twoway`` command."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from messages import JobState, KeyType, Stage
from workers.errors import TwowayError

from .output import emit, table

__all__ = ["main"]

KEYS = [k.value for k in KeyType]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="twoway", description="Outbound mutual TLS for ServiceNow, as queue workers."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run one job end to end on a throwaway stack")
    demo.add_argument("--out", type=Path, help="write keystore, password, certificates here")
    demo.add_argument("--broker", choices=["stub", "rabbitmq"], default="stub")
    demo.add_argument("--key", choices=KEYS, default="rsa2048")
    demo.add_argument("--timeout", type=float, default=300.0)

    up = sub.add_parser("up", help="the whole stack in the foreground, for development")
    up.add_argument("--broker", choices=["stub", "rabbitmq"], default="stub")
    up.add_argument("--workers", type=int, default=2, help="worker processes (rabbitmq)")

    worker = sub.add_parser("worker", help="a worker process on RabbitMQ")
    worker.add_argument("--stages", default="", help="comma-separated stages (default: all)")
    worker.add_argument("--threads", type=int, default=4)

    sandbox = sub.add_parser("sandbox", help="the sandbox ServiceNow instance alone")
    sandbox.add_argument("--port", type=int, default=0)

    submit = sub.add_parser("submit", help="submit a job request (JSON file, - for stdin)")
    submit.add_argument("file")
    submit.add_argument("--idempotency-key")
    submit.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="one job, with its history")
    status.add_argument("job_id")
    status.add_argument("--json", action="store_true")

    jobs = sub.add_parser("jobs", help="list jobs")
    jobs.add_argument("--state", action="append", choices=[s.value for s in JobState])
    jobs.add_argument("--stage", choices=[s.value for s in Stage])
    jobs.add_argument("--instance")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--json", action="store_true")

    sub.add_parser("new-master-key", help="print a new master key for TWOWAY_MASTER_KEY")
    return parser


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(key=KeyType(args.key), out=args.out, broker=args.broker, timeout=args.timeout)


def _up(args: argparse.Namespace) -> int:
    from workers.logs import configure_logging

    from .stack import Stack, StackOptions

    stack = Stack(StackOptions(broker=args.broker, worker_processes=args.workers))
    configure_logging(stream=sys.stderr)
    with stack.start():
        print(json.dumps(stack.info()), flush=True)
        _wait_for_signal()
    return 0


def _worker(args: argparse.Namespace) -> int:
    from .worker import run_worker

    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    return run_worker(stages, threads=args.threads)


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import serve

    serve(port=args.port)
    return 0


def _submit(args: argparse.Namespace) -> int:
    from .control import open_app

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TwowayError(f"{args.file} is not JSON: {exc}") from exc
    app = open_app()
    try:
        job, created = app.submit(raw, idempotency_key=args.idempotency_key)
    finally:
        app.close()
    out = {"job_id": job.id, "created": created, "state": job.state.value}
    emit(
        out if args.json else f"job {job.id} {'accepted' if created else 'exists'}",
        as_json=args.json,
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from .control import open_store
    from .jobview import summarise

    store = open_store()
    job = store.get_job(args.job_id)
    summary = summarise(store, job)
    history = [e.model_dump(mode="json") for e in store.history(job.id)]
    if args.json:
        emit({**summary, "history": history}, as_json=True)
        return 0
    rows = [(e["seq"], e["at"][:19], e["kind"], e["stage"] or "", e["state"]) for e in history]
    print(f"job {job.id}: {job.state.value} at {job.stage.value if job.stage else '-'}")
    if job.error:
        print(f"error: {job.error.get('message')} ({job.error.get('hint', '')})")
    print(table(rows, ["#", "at (UTC)", "event", "stage", "state"]))
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from .control import open_store

    store = open_store()
    states = [JobState(s) for s in args.state or []]
    found = store.list_jobs(
        states=states,
        stage=Stage(args.stage) if args.stage else None,
        instance=args.instance,
        limit=args.limit,
    )
    if args.json:
        emit([job.summary() for job in found], as_json=True)
        return 0
    rows = [
        (
            j.id,
            j.state.value,
            j.stage.value if j.stage else "-",
            j.request.instance,
            j.request.target.name,
            j.updated_at.isoformat()[:19],
        )
        for j in found
    ]
    print(table(rows, ["job", "state", "stage", "instance", "target", "updated (UTC)"]))
    return 0


def _new_master_key(_args: argparse.Namespace) -> int:
    from workers.sealing import Sealer

    print(Sealer.generate_key())
    return 0


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _demo,
    "up": _up,
    "worker": _worker,
    "sandbox": _sandbox,
    "submit": _submit,
    "status": _status,
    "jobs": _jobs,
    "new-master-key": _new_master_key,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TwowayError as exc:
        print(f"twoway {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
