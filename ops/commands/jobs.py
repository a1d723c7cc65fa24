"""Commands about jobs: submit, status, jobs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from messages import WAITING_STATES, JobState, Stage
from workers.errors import RequestInvalid
from workers.store import Store

from ..output import emit, table

__all__ = ["register", "wait_and_report"]

_EXIT = {JobState.SUCCEEDED: 0, JobState.FAILED: 1, JobState.CANCELLED: 1}


def register(sub: Any) -> None:
    submit = sub.add_parser("submit", help="submit a job request (JSON file, - for stdin)")
    submit.add_argument("file")
    submit.add_argument("--idempotency-key")
    submit.add_argument("--wait", action="store_true", help="show progress until the job ends")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(run=_submit)

    status = sub.add_parser("status", help="one job, with its history")
    status.add_argument("job_id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_status)

    jobs = sub.add_parser("jobs", help="list jobs")
    jobs.add_argument("--state", action="append", choices=[s.value for s in JobState])
    jobs.add_argument("--stage", choices=[s.value for s in Stage])
    jobs.add_argument("--instance")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument(
        "--waiting", action="store_true", help="jobs waiting for their CA: waited, deadline"
    )
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(run=_jobs)


def _submit(args: argparse.Namespace) -> int:
    from ..control import open_app
    from .operate import quiet_logs

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestInvalid(f"{args.file} is not JSON: {exc}") from exc
    quiet_logs()
    app = open_app()
    try:
        job, created = app.submit(raw, idempotency_key=args.idempotency_key)
        if not args.json or not args.wait:
            _submitted(job.id, job.state.value, created, as_json=args.json)
        if args.wait:
            return wait_and_report(app.store, job.id, timeout=args.timeout, as_json=args.json)
    finally:
        app.close()
    return 0


def _submitted(job_id: str, state: str, created: bool, *, as_json: bool) -> None:
    if as_json:
        emit({"job_id": job_id, "created": created, "state": state}, as_json=True)
    else:
        print(f"job {job_id} {'accepted' if created else 'already exists'}")


def wait_and_report(
    store: Store, job_id: str, *, timeout: float, as_json: bool, since: int = 0
) -> int:
    """Show progress (from event ``since`` on) until the job ends or waits for its CA.

    Returns the exit status: 0 succeeded, 1 failed or cancelled, 3 still unfinished. With
    ``as_json`` progress goes to stderr and the job's summary to stdout.
    """
    from ..jobview import follow, summarise

    def show(line: str) -> None:
        print(line, file=sys.stderr if as_json else sys.stdout, flush=True)

    job = follow(
        store,
        job_id,
        show,
        timeout=timeout,
        since=since,
        until=lambda j: j.terminal or j.state in WAITING_STATES,
    )
    if as_json:
        emit(summarise(store, job), as_json=True)
    else:
        print(f"job {job.id}: {job.state.value} at {job.stage.value if job.stage else '-'}")
        if job.error:
            print(f"error: {job.error.get('message')} ({job.error.get('hint', '')})")
    return _EXIT.get(job.state, 3)


def _status(args: argparse.Namespace) -> int:
    from ..control import open_store
    from ..jobview import summarise

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
    if args.waiting:
        from .ca import show_waiting

        return show_waiting(as_json=args.json)
    from ..control import open_store

    store = open_store()
    found = store.list_jobs(
        states=[JobState(s) for s in args.state or []],
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
