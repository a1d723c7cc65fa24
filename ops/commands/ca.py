"""Jobs that wait for their CA: ``resume``, ``ca-callback``, ``poller``, ``jobs --waiting``."""

from __future__ import annotations

import argparse
import getpass
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from workers.errors import RequestInvalid

from ..output import emit, table

__all__ = ["register", "show_waiting", "split_leaf"]

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\s*", re.DOTALL)


def register(sub: Any) -> None:
    resume = sub.add_parser(
        "resume",
        help="resume a job waiting for its CA with the certificate the CA signed",
        description="Runs the checks of the CA callback (public key, chain, validity,"
        " clientAuth, subject); a certificate that fails one leaves the job waiting and the"
        " reason in its history.",
    )
    resume.add_argument("job_id")
    resume.add_argument("--cert", type=Path, required=True, help="the certificate (PEM)")
    resume.add_argument("--chain", type=Path, help="intermediates and root (PEM); default:"
                        " the certificates after the first one in --cert")  # fmt: skip
    resume.add_argument("--actor", help="who resumes (default: the login name)")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(run=_resume)

    callback = sub.add_parser(
        "ca-callback", help="sign and send a CA callback, as a CA would (see 'demo --ca manual')"
    )
    callback.add_argument("callback", type=Path, help="callback.json: {url, secret}")
    callback.add_argument("--cert", type=Path, required=True, help="the certificate (PEM)")
    callback.add_argument("--chain", type=Path, help="intermediates and root (PEM)")
    callback.set_defaults(run=_ca_callback)

    poller = sub.add_parser(
        "poller", help="resume jobs of pollable CAs; fail jobs that wait past max_wait_days"
    )
    poller.add_argument("--every", type=float, default=30.0, help="seconds between rounds")
    poller.add_argument("--once", action="store_true", help="one round, then exit")
    poller.add_argument("--json", action="store_true")
    poller.set_defaults(run=_poller)


def split_leaf(pem: bytes) -> tuple[bytes, bytes]:
    """The first certificate of a PEM bundle, and the rest (its chain)."""
    blocks = _PEM.findall(pem)
    if len(blocks) < 2:
        return pem, b""
    return blocks[0], b"".join(blocks[1:])


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RequestInvalid(f"{option} {path}: {exc.strerror or exc}") from exc


def _certificate_and_chain(args: argparse.Namespace) -> tuple[bytes, bytes]:
    leaf, rest = split_leaf(_read(args.cert, "--cert"))
    return leaf, _read(args.chain, "--chain") if args.chain else rest


def _resume(args: argparse.Namespace) -> int:
    from workers.resume import resume_with_certificate

    from ..control import open_app

    certificate, chain = _certificate_and_chain(args)
    app = open_app()
    try:
        job = resume_with_certificate(
            app,
            args.job_id,
            certificate,
            chain,
            source="cli",
            actor=args.actor or f"cli:{getpass.getuser()}",
        )
    finally:
        app.close()
    if args.json:
        emit(job.summary(), as_json=True)
    else:
        print(f"job {job.id} resumed: the certificate passed its checks; import-chain is next")
    return 0


def _ca_callback(args: argparse.Namespace) -> int:
    import requests

    from ..callback import job_id_in, signed_headers

    try:
        spec = json.loads(_read(args.callback, "callback"))
        url, secret = str(spec["url"]), str(spec["secret"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RequestInvalid(
            f"{args.callback} is not a callback file", hint='it holds {"url": ..., "secret": ...}'
        ) from exc
    certificate, chain = _certificate_and_chain(args)
    body = json.dumps({"certificate": certificate.decode(), "chain": chain.decode()}).encode()
    answer = requests.post(
        url,
        data=body,
        headers=signed_headers(secret.encode(), body, job_id=job_id_in(url)),
        timeout=30,
    )
    print(f"{answer.status_code} {answer.text}")
    return 0 if answer.status_code == 202 else 1


def _poller(args: argparse.Namespace) -> int:
    from workers.logs import configure_logging
    from workers.poller import Poller

    from ..control import open_app
    from .local import wait_for_signal

    configure_logging()
    app = open_app()
    try:
        poller = Poller(app)
        if args.once:
            emit(vars(poller.run_once()), as_json=args.json)
            return 0
        poller.start(every_s=args.every)
        wait_for_signal()
        poller.stop()
    finally:
        app.close()
    return 0


def show_waiting(*, as_json: bool) -> int:
    """``twoway jobs --waiting``: paused jobs, how long they waited, and until when."""
    from workers.config import load_config
    from workers.waiting import waiting_jobs

    from ..control import open_store

    now = datetime.now(UTC)
    found = list(waiting_jobs(open_store(), load_config()))
    if as_json:
        emit([w.summary(now) for w in found], as_json=True)
        return 0
    rows = [
        (
            w.job.id,
            w.profile,
            w.request_id or "-",
            w.since.isoformat()[:19],
            _span(w.waited(now)),
            w.deadline.isoformat()[:19] if w.deadline else "none",
            _span(w.deadline - now) if w.deadline else "-",
        )
        for w in sorted(found, key=lambda w: w.since)
    ]
    headers = ["job", "CA profile", "request", "since (UTC)", "waited", "deadline (UTC)", "left"]
    print(table(rows, headers))
    return 0


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "overdue"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m {rest % 60}s"
