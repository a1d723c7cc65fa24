"""``twoway replay`` and ``twoway cancel``: an operator's levers, with a recorded reason.

They speak to the gateway (``/v1/jobs/{id}/replay`` and ``/cancel``, operator token):
the gateway sends the replayed stage's message to the broker its workers read, and
records the token's name as who asked.
"""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.commands.remote import add_remote, gateway, seconds, wait_for_job
from ops.cli.output import emit

__all__ = ["register"]

STAGES = (
    "generate, csr, wait-for-ca, import-chain, upload-keystore, register-trust,"
    " create-profile, enable, verify"
)


def register(sub: Any) -> None:
    replay = sub.add_parser(
        "replay",
        help="run a stage of a failed or stalled job again, and continue from there",
        description="Replays STAGE of a failed job (its failed stage or an earlier one; of a"
        " succeeded job only verify; of a stalled running job its current stage). The"
        " reason and who asked go into the job's history. A stage before import-chain on a"
        " job that holds a certificate needs --force: it makes a new key, CSR and"
        " certificate.",
    )
    replay.add_argument("job_id")
    replay.add_argument("--stage", required=True, help=STAGES)
    replay.add_argument("--reason", required=True, help="why (recorded in the history)")
    replay.add_argument("--force", action="store_true", help="allow a new key/CSR/certificate")
    replay.add_argument("--wait", action="store_true", help="show progress until the job ends")
    replay.add_argument("--timeout", type=seconds, default=600.0, help="seconds to wait")
    add_remote(replay)
    replay.set_defaults(run=_replay)

    cancel = sub.add_parser(
        "cancel",
        help="cancel an unfinished job, with a reason (a succeeded one: use rollback)",
    )
    cancel.add_argument("job_id")
    cancel.add_argument("--reason", required=True, help="why (recorded in the history)")
    add_remote(cancel)
    cancel.set_defaults(run=_cancel)


def _replay(args: argparse.Namespace) -> int:
    api = gateway(args)
    before = len(api.get(f"/v1/jobs/{args.job_id}")["history"]) if args.wait else 0
    body = {"stage": args.stage, "reason": args.reason, "force": args.force}
    job = api.post(f"/v1/jobs/{args.job_id}/replay", body)
    if args.wait:
        if not args.json:
            print(f"job {job['job_id']}: replaying {args.stage}")
        job_id = job["job_id"]
        return wait_for_job(api, job_id, timeout=args.timeout, as_json=args.json, since=before)
    emit(job if args.json else f"job {job['job_id']}: replaying {args.stage}", as_json=args.json)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    job = gateway(args).post(f"/v1/jobs/{args.job_id}/cancel", {"reason": args.reason})
    step = _records_stay(job)
    if args.json:
        emit({**job, "next_step": step}, as_json=True)
        return 0
    print(f"job {job['job_id']}: {job['state']}")
    if step:
        print(step)
    return 0


def _records_stay(job: dict[str, Any]) -> str | None:
    """What to do about the records a cancelled job left on its instance (None: none)."""
    left = job.get("left_on_instance") or []
    if not left:
        return None
    named = ", ".join(f"{r['what']} {r['sys_id']}" for r in left)
    return (
        f"its records stay on instance {job['instance']!r} ({named}): twoway rollback"
        f" {job['job_id']} --reason REASON removes them"
    )
