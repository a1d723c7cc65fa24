"""Commands about jobs, through the gateway: submit, status, jobs, csr."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ops.cli.client import EXIT_USAGE, CliError, read_input
from ops.cli.commands.remote import add_remote, gateway, next_step, positive, seconds, wait_for_job
from ops.cli.output import emit, table

__all__ = ["register"]

STATES = [
    "accepted",
    "running",
    "waiting_for_ca",
    "waiting_for_third_party",
    "succeeded",
    "failed",
    "cancelled",
]


def register(sub: Any) -> None:
    submit = sub.add_parser("submit", help="submit a job request (JSON file, - for stdin)")
    submit.add_argument("file")
    submit.add_argument("--idempotency-key")
    submit.add_argument("--wait", action="store_true", help="show progress until the job ends")
    submit.add_argument("--timeout", type=seconds, default=600.0, help="seconds to wait")
    add_remote(submit)
    submit.set_defaults(run=_submit)

    status = sub.add_parser("status", help="one job, with its history and its next step")
    status.add_argument("job_id")
    add_remote(status)
    status.set_defaults(run=_status)

    jobs = sub.add_parser("jobs", help="list jobs, newest first")
    jobs.add_argument("--state", action="append", help=f"repeatable: {', '.join(STATES)}")
    jobs.add_argument("--stage")
    jobs.add_argument("--instance")
    jobs.add_argument("--limit", type=positive, default=50, help="at most this many (1-200)")
    jobs.add_argument(
        "--waiting",
        action="store_true",
        help="paused jobs (for their CA or the third party): since, deadline",
    )
    add_remote(jobs)
    jobs.set_defaults(run=_jobs)

    csr = sub.add_parser("csr", help="a job's CSR (PEM), to have it signed by a manual CA")
    csr.add_argument("job_id")
    csr.add_argument("--out", type=Path, help="write it here (default: stdout)")
    add_remote(csr)
    csr.set_defaults(run=_csr)


def _submit(args: argparse.Namespace) -> int:
    text = read_input(args.file)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(EXIT_USAGE, "InputInvalid", f"{args.file} is not JSON: {exc}") from None
    api = gateway(args)
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    made = api.post("/v1/jobs", raw, headers=headers)
    if not args.json or not args.wait:
        if args.json:
            emit(made, as_json=True)
        else:
            verb = "accepted" if made["created"] else "already exists"
            print(f"job {made['job_id']} {verb}")
    if args.wait:
        return wait_for_job(api, made["job_id"], timeout=args.timeout, as_json=args.json)
    return 0


def _status(args: argparse.Namespace) -> int:
    job = gateway(args).get(f"/v1/jobs/{args.job_id}")
    step = next_step(job)
    if args.json:
        emit({**job, "next_step": step}, as_json=True)
        return 0
    history = job["history"]
    rows = [(e["seq"], e["at"][:19], e["kind"], e["stage"] or "", e["state"]) for e in history]
    print(f"job {job['job_id']}: {job['state']} at {job['stage'] or '-'}")
    if job.get("error"):
        print(f"error: {job['error'].get('message')} ({job['error'].get('hint', '')})")
    if job.get("stalled"):
        print(f"stalled: {job['stalled']['reason']} (replay its stage to go on)")
    if step:
        print(step)
    print(table(rows, ["#", "at (UTC)", "event", "stage", "state"]))
    return 0


def _jobs(args: argparse.Namespace) -> int:
    if args.waiting:
        return _waiting(args)
    found = gateway(args).get(
        "/v1/jobs", state=args.state, stage=args.stage, instance=args.instance, limit=args.limit
    )["jobs"]
    if args.json:
        emit(found, as_json=True)
        return 0
    columns = ["job_id", "state", "stage", "instance", "target", "updated_at"]
    rows = [[j[c] if c != "updated_at" else j[c][:19] for c in columns] for j in found]
    print(table(rows, ["job", "state", "stage", "instance", "target", "updated (UTC)"]))
    return 0


def _waiting(args: argparse.Namespace) -> int:
    found = gateway(args).get("/v1/jobs/waiting")["jobs"]
    if args.json:
        emit(found, as_json=True)
        return 0
    columns = ["job_id", "waits_for", "ca_profile", "request_id", "waiting_since", "deadline"]
    rows = [[str(w[c] or "-")[:19] if c != "job_id" else w[c] for c in columns] for w in found]
    print(table(rows, ["job", "waits for", "CA profile", "request", "since (UTC)", "deadline"]))
    return 0


def _csr(args: argparse.Namespace) -> int:
    pem = gateway(args).get(f"/v1/jobs/{args.job_id}/csr")
    if args.out is None:
        print(pem.decode(), end="")
        return 0
    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    except OSError as exc:
        raise CliError(EXIT_USAGE, "OutputInvalid", f"{args.out}: {exc.strerror}") from None
    emit({"csr": str(args.out)} if args.json else f"wrote {args.out}", as_json=args.json)
    return 0
