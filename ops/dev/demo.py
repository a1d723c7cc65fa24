"""``twoway demo``: one job end to end on the stack of ``twoway up``.

The third party starts out refusing our new certificate, as a real partner does until
it has installed it: the job proves the keystore before switching the message, finds it
refused, and waits in ``waiting_for_third_party`` with the message untouched. The demo
then plays the partner (it installs client-cert.pem) and the poller's re-probe carries
the job on. With ``--ca manual`` the job first pauses at wait-for-ca the way it would for
a slow CA: the demo writes the CSR and the callback's address and secret, says how to
sign and call back, and waits.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from messages import WAITING_STATES, JobState, KeyType
from ops.dev.stack import (
    BrokerOptions,
    PartnerOptions,
    RunningStack,
    SandboxOptions,
    Stack,
    StackOptions,
)
from ops.views.jobview import export_artifacts, follow, summarise
from ops.views.safefiles import prepare_out_dir, write_file
from workers.errors import RequestInvalid
from workers.estate.inventory import discover_estate
from workers.logs import configure_logging
from workers.machinery.broker import BrokerKind
from workers.store import JobRecord
from workers.store.artifacts import Artifact

__all__ = ["run_demo"]


def run_demo(
    *,
    key: KeyType = KeyType.RSA2048,
    keystore_format: str = "jks",
    out: Path | None = None,
    broker: BrokerKind = "stub",
    ca: str = "local",
    timeout: float = 300.0,
    stream: TextIO = sys.stdout,
    as_json: bool = False,
    show_estate: Callable[[dict[str, Any]], str] | None = None,
) -> int:
    """Run one job; exit status 0 only when it succeeded.

    With ``as_json`` progress goes to stderr and one JSON result to ``stream``.
    """
    result_stream, stream = (stream, sys.stderr) if as_json else (stream, stream)

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    if ca == "manual" and out is None:
        raise RequestInvalid("demo --ca manual needs --out DIR", hint="csr.pem goes there")
    if out is not None:
        prepare_out_dir(out)  # refused now, not after the job
    state_dir = Path(tempfile.mkdtemp(prefix="twoway-demo-"))
    log_path = state_dir / "twoway.log"
    configure_logging(stream=log_path.open("a", buffering=1, encoding="utf-8"), json=True)
    options = StackOptions(
        broker=BrokerOptions(kind=broker),
        partner=PartnerOptions(trusts_ca=False, probe_every_s=1.0),
        sandbox=SandboxOptions(estate=show_estate is not None),
        poll_every_s=1.0,
        state_dir=state_dir,
    )
    say("twoway demo: outbound mutual TLS for a ServiceNow REST message, end to end")
    final: JobRecord | None = None
    interrupted = False
    try:
        with _stopped_by_signals(), Stack(options) as stack:
            shown = _Shown(keystore_format, show_estate, result_stream if as_json else None)
            final = _run(stack, key, out, ca, timeout, say, shown)
    except Interrupted as signalled:
        interrupted = True
        say(f"twoway demo: stopped by {signalled}; the stack and its files are gone")
    finally:
        failed = final is not None and final.state is not JobState.SUCCEEDED
        if failed:  # the log stays, for the reason
            say(f"the job did not succeed; the log is in {log_path}")
        else:  # succeeded, interrupted, or the stack could not start: nothing to keep
            shutil.rmtree(state_dir, ignore_errors=True)
    if interrupted:
        return 128 + signal.SIGTERM
    return 0 if final is not None and final.state is JobState.SUCCEEDED else 1


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived: unwind, so that every part of the stack is stopped."""


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """While inside: SIGTERM and SIGINT raise ``Interrupted`` in the main thread."""

    def interrupt(signum: int, _: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; a caller elsewhere handles its own
        return
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class _Shown:
    """What the demo's job asks for and shows besides the defaults."""

    keystore_format: str
    show_estate: Callable[[dict[str, Any]], str] | None
    result_stream: TextIO | None


def _run(
    stack: RunningStack,
    key: KeyType,
    out: Path | None,
    ca: str,
    timeout: float,
    say: Callable[[str], None],
    shown_as: _Shown,
) -> JobRecord:
    """Submit the demo's job, play the partner (and the CA), report; the job at the end."""
    _announce(stack, say)
    keystore = {"record_name": "twoway payments client", "format": shown_as.keystore_format}
    job, _ = stack.app.submit(stack.example_job(key, ca={"profile": ca}, keystore=keystore))
    _play_the_partner(stack, job.id, say)
    say(
        f"job {job.id}: key {key.value}, {shown_as.keystore_format} keystore,"
        f" target 'Payments API', CA '{ca}'"
    )
    result_stream = shown_as.result_stream
    shown = _pause_for_the_ca(stack, job.id, out, say, timeout) if out and ca == "manual" else 0
    final = follow(stack.app.store, job.id, say, timeout=timeout, since=shown)
    summary = summarise(stack.app.store, final)
    files: list[str] = []
    if out is not None:
        files = export_artifacts(stack.app.store, final, out, summary)
        say(f"wrote {', '.join(files)} to {out}")
    else:
        say("nothing was kept: the stack and its files go when the demo ends (--out DIR)")
    if result_stream is not None:
        kept = {"out": str(out) if out else None, "files": files}
        print(json.dumps({**_short(summary), **kept}), file=result_stream, flush=True)
    else:
        say(json.dumps(_short(summary), indent=2))
    if shown_as.show_estate is not None:
        report = discover_estate("sandbox", stack.app.config, stack.app.deps.instances)
        say("the instance's whole mutual-TLS estate (twoway discover, read-only):")
        say(shown_as.show_estate(report.model_dump()))
    return final


def _announce(stack: RunningStack, say: Callable[[str], None]) -> None:
    broker = stack.options.broker.kind
    say(f"  sandbox instance  {stack.sandbox.url}")
    say(f"  third party       {stack.third_party.url} (requires a client certificate)")
    say(
        f"  broker            {broker}" + (f" ({stack.queue_prefix}.*)" if broker != "stub" else "")
    )


def _pause_for_the_ca(
    stack: RunningStack, job_id: str, out: Path, say: Callable[[str], None], timeout: float
) -> int:
    """Follow the job to its pause, hand the CSR out; return the events shown so far."""
    paused = follow(stack.app.store, job_id, say, timeout=timeout, until=_paused_or_done)
    shown = len(stack.app.store.history(job_id))  # nothing happens while it waits
    if paused.state is JobState.WAITING_FOR_CA:
        _ask_the_ca(stack, paused, out, say)
    return shown


def _paused_or_done(job: JobRecord) -> bool:
    return job.terminal or job.state in WAITING_STATES


def _play_the_partner(stack: RunningStack, job_id: str, say: Callable[[str], None]) -> None:
    """The demo's third party installs client-cert.pem once the job waits for it.

    It learns of the wait from the store, as any process would: on RabbitMQ the stages
    (and their events) run in the worker processes, not in this one."""
    done = threading.Event()
    stack.on_stop(done.set)

    def watch() -> None:
        while not done.wait(0.2):
            job = stack.app.store.get_job(job_id)
            if job.terminal:
                return
            if job.state is JobState.WAITING_FOR_THIRD_PARTY:
                break
        else:
            return
        certificate = stack.app.store.artifacts.get(job_id, Artifact.CLIENT_CERT_PEM) or b""
        say(
            "  the message is untouched while the third party installs our certificate"
            " (client-cert.pem); playing the third party: installed. The poller re-probes ..."
        )
        stack.third_party.trust(certificate)

    threading.Thread(target=watch, name="twoway-demo-partner", daemon=True).start()


def _ask_the_ca(stack: RunningStack, job: JobRecord, out: Path, say: Callable[[str], None]) -> None:
    prepare_out_dir(out)
    csr = stack.app.store.artifacts.get(job.id, Artifact.CSR)
    assert csr is not None
    write_file(out / "csr.pem", csr)
    spec = {
        "url": f"{stack.gateway.url}/v1/jobs/{job.id}/ca-callback",
        "secret": stack.callback_secret().decode(),
    }
    # renamed into place when whole: its presence means ready
    write_file(out / "callback.json", json.dumps(spec).encode(), 0o600)
    for line in _instructions(out, spec["url"], job.id):
        say(line)


def _instructions(out: Path, url: str, job_id: str) -> list[str]:
    ext = "basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature"
    ext += "\\nextendedKeyUsage=clientAuth"
    return [
        f"the job waits for its CA. The CSR is in {out}/csr.pem; the callback's address and"
        f" secret are in {out}/callback.json (mode 0600).",
        "1. Sign it as the CA (any CA: ca.pem/ca.key, with ca-chain.pem = intermediates + root):",
        f"   openssl x509 -req -in {out}/csr.pem -CA ca.pem -CAkey ca.key -days 90"
        f" -copy_extensions copyall -extfile <(printf '{ext}') -out {out}/cert.pem",
        "2. Call back (signed with HMAC-SHA256 over timestamp.job_id.body):",
        f"   twoway ca-callback {out}/callback.json --cert {out}/cert.pem --chain ca-chain.pem",
        "   or by hand: ts=$(date +%s); body=<the JSON {certificate, chain}>;"
        f' sig=$(printf \'%s.%s.%s\' "$ts" {job_id} "$body" | openssl dgst -sha256'
        ' -hmac "$SECRET" -r'
        " | cut -d' ' -f1)",
        f'   curl -X POST {url} -H "X-Twoway-Timestamp: $ts"'
        " -H \"X-Twoway-Signature: sha256=$sig\" -H 'Content-Type: application/json'"
        ' --data-binary "$body"',
        "waiting for the callback ...",
    ]


def _short(summary: dict[str, object]) -> dict[str, object]:
    keep = ("job_id", "state", "stage", "error", "stage_durations_ms", "instance_records")
    return {k: summary[k] for k in keep if k in summary}
