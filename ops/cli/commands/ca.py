"""Paused jobs: ``resume`` (through the gateway: a CA's certificate, or the third party's
"installed"), ``ca-callback``, ``poller``."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from ops.cli.client import EXIT_USAGE, CliError, read_input, send
from ops.cli.commands.remote import add_remote, seconds
from ops.cli.output import emit

__all__ = ["register", "split_leaf"]

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\s*", re.DOTALL)


def register(sub: Any) -> None:
    resume = sub.add_parser(
        "resume",
        help="resume a paused job: with the certificate its CA signed (--cert), or once the"
        " third party installed our certificate (--installed)",
        description="--cert runs the checks of the CA callback (public key, chain, validity,"
        " clientAuth, subject); a certificate that fails one leaves the job waiting and the"
        " reason in its history. --installed resumes a job waiting for the third party: it"
        " proves the keystore against the endpoint again before it switches the message.",
    )
    resume.add_argument("job_id")
    how = resume.add_mutually_exclusive_group(required=True)
    how.add_argument("--cert", type=Path, help="the certificate (PEM)")
    how.add_argument(
        "--installed", action="store_true", help="the third party installed our certificate"
    )
    resume.add_argument("--reason", default="the third party installed our client certificate",
                        help="with --installed: recorded in the history")  # fmt: skip
    resume.add_argument("--chain", type=Path, help="intermediates and root (PEM); default:"
                        " the certificates after the first one in --cert")  # fmt: skip
    add_remote(resume)
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
    poller.add_argument("--every", type=seconds, default=30.0, help="seconds between rounds")
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
    data: bytes = read_input(str(path), binary=True)
    if b"-----BEGIN" not in data and option != "callback":
        raise CliError(EXIT_USAGE, "InputInvalid", f"{option} {path} holds no PEM block")
    return data


def _certificate_and_chain(args: argparse.Namespace) -> tuple[bytes, bytes]:
    leaf, rest = split_leaf(_read(args.cert, "--cert"))
    return leaf, _read(args.chain, "--chain") if args.chain else rest


def _resume(args: argparse.Namespace) -> int:
    from ops.cli.commands.remote import gateway

    if args.installed:
        body = {"reason": args.reason}
        job = gateway(args).post(f"/v1/jobs/{args.job_id}/partner-installed", body)
        emit(job if args.json else f"job {job['job_id']}: {job['state']}; next: enable proves"
             " the keystore, then switches the message", as_json=args.json)  # fmt: skip
        return 0
    certificate, chain = _certificate_and_chain(args)
    body = {"certificate": certificate.decode(), "chain": chain.decode()}
    job = gateway(args).post(f"/v1/jobs/{args.job_id}/resume", body)
    if args.json:
        emit(job, as_json=True)
    else:
        print(f"job {job['job_id']} resumed: the certificate passed its checks; next: import-chain")
    return 0


def _ca_callback(args: argparse.Namespace) -> int:
    import requests

    from workers.callback_signing import job_id_in, signed_headers

    try:
        spec = json.loads(_read(args.callback, "callback"))
        url, secret = str(spec["url"]), str(spec["secret"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CliError(
            EXIT_USAGE,
            "InputInvalid",
            f"{args.callback} is not a callback file",
            'it holds {"url": ..., "secret": ...}',
        ) from exc
    certificate, chain = _certificate_and_chain(args)
    body = json.dumps({"certificate": certificate.decode(), "chain": chain.decode()}).encode()
    answer = send(
        requests.Session(),
        "POST",
        url,
        data=body,
        headers=signed_headers(secret.encode(), body, job_id=job_id_in(url)),
        timeout=30,
        where=f"the url in {args.callback}",
    )  # a refusal raises, with its exit code by the CLI's one rule
    print(f"{answer.status_code} {answer.text}")
    return 0


def _poller(args: argparse.Namespace) -> int:
    from ops.cli.commands.local import wait_for_signal
    from ops.service.environment import open_app
    from workers.levers.poller import Poller
    from workers.logs import configure_logging

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
