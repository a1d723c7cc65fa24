"""Commands about jobs: submit, status, jobs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from messages import JobState, Stage
from workers.errors import RequestInvalid

from ..output import emit, table

__all__ = ["register"]


def register(sub: Any) -> None:
    submit = sub.add_parser("submit", help="submit a job request (JSON file, - for stdin)")
    submit.add_argument("file")
    submit.add_argument("--idempotency-key")
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
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(run=_jobs)


def _submit(args: argparse.Namespace) -> int:
    from ..control import open_app

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestInvalid(f"{args.file} is not JSON: {exc}") from exc
    app = open_app()
    try:
        job, created = app.submit(raw, idempotency_key=args.idempotency_key)
    finally:
        app.close()
    if args.json:
        emit({"job_id": job.id, "created": created, "state": job.state.value}, as_json=True)
    else:
        print(f"job {job.id} {'accepted' if created else 'already exists'}")
    return 0


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
