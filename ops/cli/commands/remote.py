"""What the commands that speak to the gateway share: the options that say where it is,
the client, waiting for a job, and ``twoway login``.

A command here needs no master key, store URL or broker URL: only a gateway URL and a
token (see ops/cli/client.py for where they come from).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ops.cli.client import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMED_OUT,
    EXIT_USAGE,
    CliError,
    Gateway,
    resolve,
    write_context,
)
from ops.cli.output import emit

__all__ = [
    "add_remote",
    "gateway",
    "next_step",
    "non_negative",
    "port",
    "positive",
    "register",
    "seconds",
    "wait_for_job",
]

_TERMINAL = {"succeeded": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_FAILED}


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def non_negative(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is less than 0")
    return value


def port(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    value = non_negative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535)")
    return value


def seconds(text: str) -> float:
    """An argparse type: a number of seconds above 0 (and finite)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 10**7:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds above 0")
    return value


def add_remote(parser: argparse.ArgumentParser) -> None:
    """--url, --token and --json for a command that speaks to the gateway."""
    where = parser.add_argument_group("gateway (default: TWOWAY_URL/TWOWAY_TOKEN, else context)")
    where.add_argument("--url", help="the gateway's base URL")
    where.add_argument("--token", help="a bearer token (read, or operator for changes)")
    parser.add_argument("--json", action="store_true", help="answers and errors as JSON")


def gateway(args: argparse.Namespace) -> Gateway:
    return Gateway(resolve(getattr(args, "url", None), getattr(args, "token", None)))


def paused(state: str) -> bool:
    return state.startswith("waiting_for_")


def next_step(job: dict[str, Any]) -> str | None:
    """What a paused job waits for, and what to do next (None when it is not paused)."""
    state, job_id = str(job.get("state")), job.get("job_id")
    if state == "waiting_for_ca":
        request = f" (CA request {job['ca_request_id']})" if job.get("ca_request_id") else ""
        return (
            f"waits for its CA to sign the CSR{request}. Next: twoway csr {job_id} --out"
            f" csr.pem; have the CA sign it; twoway resume {job_id} --cert cert.pem"
            " [--chain chain.pem] (or the CA calls back)"
        )
    if state == "waiting_for_third_party":
        return (
            "waits for the third party to install our client certificate (the message is"
            f" untouched; the poller re-probes). Give them GET /v1/jobs/{job_id}/client-certificate"
            f" and /ca-chain; once installed: twoway resume {job_id} --installed"
        )
    if paused(state):
        return f"waits ({state.removeprefix('waiting_for_').replace('_', ' ')}); see its history"
    return None


def wait_for_job(
    api: Gateway, job_id: str, *, timeout: float, as_json: bool, since: int = 0
) -> int:
    """Show progress (events from ``since`` on) until the job ends or pauses.

    Exit status: 0 succeeded or paused (for a person), 1 failed or cancelled, 5 timed out.
    With ``as_json`` progress goes to stderr and the job to stdout.
    """
    from ops.views.progress_lines import event_line

    out = sys.stderr if as_json else sys.stdout
    deadline = time.monotonic() + timeout
    shown = since
    while True:
        job = api.get(f"/v1/jobs/{job_id}")
        for event in job["history"][shown:]:
            line = event_line({**event, "job_id": job_id})
            if line:
                print(line, file=out, flush=True)
        shown = max(shown, len(job["history"]))
        state = str(job["state"])
        if state in _TERMINAL or paused(state) or time.monotonic() >= deadline:
            break
        time.sleep(0.3)
    job.pop("history", None)
    if as_json:
        emit(job, as_json=True)
    else:
        print(f"job {job_id}: {state} at {job.get('stage') or '-'}")
        if job.get("error"):
            print(f"error: {job['error'].get('message')} ({job['error'].get('hint', '')})")
        if next_step(job):
            print(next_step(job))
    if state in _TERMINAL:
        return _TERMINAL[state]
    if paused(state):
        return EXIT_OK
    print(f"twoway: still {state} after {timeout:g}s", file=sys.stderr)
    return EXIT_TIMED_OUT


def register(sub: Any) -> None:
    login = sub.add_parser(
        "login",
        help="save the gateway's URL and a token in the context file (mode 0600)",
        description="Checks the token against the gateway, then writes TWOWAY_CONTEXT"
        " (default ~/.config/twoway/context.json). Every command that speaks to the"
        " gateway uses it when neither --url/--token nor TWOWAY_URL/TWOWAY_TOKEN is set.",
    )
    login.add_argument("url")
    login.add_argument("--token", required=True)
    login.add_argument("--name", default="default", help="the context's name (default: default)")
    login.add_argument("--json", action="store_true")
    login.set_defaults(run=_login)


def _login(args: argparse.Namespace) -> int:
    from ops.cli.client import Context

    if not args.url.startswith(("http://", "https://")):
        raise CliError(EXIT_USAGE, "UsageError", f"{args.url!r} is not an http(s) URL")
    context = Context(args.url.rstrip("/"), args.token)
    Gateway(context).get("/v1/jobs", limit=1)  # the token works here
    path = write_context(context.url, context.token, name=args.name)
    saved = {"context": str(path), "name": args.name, "url": context.url}
    emit(saved if args.json else f"saved {path}", as_json=args.json)
    return EXIT_OK
