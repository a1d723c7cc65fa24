"""``twoway demo``: one job end to end on the stack of ``twoway up``.

With ``--ca manual`` the job pauses at wait-for-ca the way it would for a slow CA: the
demo writes the CSR and the callback's address and secret, says how to sign and call
back, and waits; the third party then trusts the root that arrived in the callback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from messages import JobEvent, JobState, KeyType
from workers.broker import BrokerKind
from workers.errors import RequestInvalid
from workers.logs import configure_logging
from workers.pki import cert_to_pem, parse_certificates
from workers.store import JobRecord

from .jobview import export_artifacts, follow, summarise
from .safefiles import prepare_out_dir, write_file
from .stack import Stack, StackOptions

__all__ = ["run_demo"]


def run_demo(
    *,
    key: KeyType = KeyType.RSA2048,
    out: Path | None = None,
    broker: BrokerKind = "stub",
    ca: str = "local",
    timeout: float = 300.0,
    stream: TextIO = sys.stdout,
) -> int:
    """Run one job; exit status 0 only when it succeeded."""

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    if ca == "manual" and out is None:
        raise RequestInvalid("demo --ca manual needs --out DIR", hint="csr.pem goes there")
    if out is not None:
        prepare_out_dir(out)  # refused now, not after the job
    stack = Stack(StackOptions(broker=broker))
    log_path = stack.state_dir / "twoway.log"
    configure_logging(stream=log_path.open("a", buffering=1, encoding="utf-8"), json=True)
    say("twoway demo: outbound mutual TLS for a ServiceNow REST message, end to end")
    with stack.start():
        assert stack.app is not None
        _announce(stack, say)
        job, _ = stack.app.submit(stack.example_job(key, ca={"profile": ca}))
        say(f"job {job.id}: key {key.value}, target 'Payments API', CA '{ca}'")
        shown = _pause_for_the_ca(stack, job.id, out, say, timeout) if out and ca == "manual" else 0
        final = follow(stack.app.store, job.id, say, timeout=timeout, since=shown)
        summary = summarise(stack.app.store, final)
        if out is not None:
            files = export_artifacts(stack.app.store, final, out, summary)
            say(f"wrote {', '.join(files)} to {out}")
        say(json.dumps(_short(summary), indent=2))
        if final.state is not JobState.SUCCEEDED:
            say(f"the job did not succeed; the log is in {log_path}")
            stack.options.keep_state = True
        return 0 if final.state is JobState.SUCCEEDED else 1


def _announce(stack: Stack, say: Callable[[str], None]) -> None:
    broker = stack.options.broker
    say(f"  sandbox instance  {stack.sandbox.url}")
    say(f"  third party       {stack.third_party.url} (requires a client certificate)")
    say(
        f"  broker            {broker}" + (f" ({stack.queue_prefix}.*)" if broker != "stub" else "")
    )


def _pause_for_the_ca(
    stack: Stack, job_id: str, out: Path, say: Callable[[str], None], timeout: float
) -> int:
    """Follow the job to its pause, hand the CSR out; return the events shown so far."""
    assert stack.app is not None
    stack.app.store.add_listener(_trust_callback_root(stack, job_id))
    paused = follow(stack.app.store, job_id, say, timeout=timeout, until=_paused_or_done)
    shown = len(stack.app.store.history(job_id))  # nothing happens while it waits
    if paused.state is JobState.WAITING_FOR_CA:
        _ask_the_ca(stack, paused, out, say)
    return shown


def _paused_or_done(job: JobRecord) -> bool:
    return job.terminal or job.state is JobState.WAITING_FOR_CA


def _trust_callback_root(stack: Stack, job_id: str) -> Callable[[JobEvent], None]:
    """The third party installs the root of the chain the CA called back with."""

    def listener(event: JobEvent) -> None:
        if event.job_id != job_id or event.kind != "ca_resumed" or stack.app is None:
            return
        chain = stack.app.store.artifacts.get(job_id, "issued_chain") or b""
        root = parse_certificates(chain, what="chain")[-1]  # stored leaf side first
        stack.third_party.trust(cert_to_pem(root))

    return listener


def _ask_the_ca(stack: Stack, job: JobRecord, out: Path, say: Callable[[str], None]) -> None:
    assert stack.app is not None
    prepare_out_dir(out)
    csr = stack.app.store.artifacts.get(job.id, "csr")
    assert csr is not None
    write_file(out / "csr.pem", csr)
    spec = {
        "url": f"{stack.gateway.url}/v1/jobs/{job.id}/ca-callback",
        "secret": stack.callback_secret().decode(),
    }
    # renamed into place when whole: its presence means ready
    write_file(out / "callback.json", json.dumps(spec).encode(), 0o600)
    for line in _instructions(out, spec["url"]):
        say(line)


def _instructions(out: Path, url: str) -> list[str]:
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
        ' sig=$(printf \'%s.%s\' "$ts" "$body" | openssl dgst -sha256 -hmac "$SECRET" -r'
        " | cut -d' ' -f1)",
        f'   curl -X POST {url} -H "X-Twoway-Timestamp: $ts"'
        " -H \"X-Twoway-Signature: sha256=$sig\" -H 'Content-Type: application/json'"
        ' --data-binary "$body"',
        "waiting for the callback ...",
    ]


def _short(summary: dict[str, object]) -> dict[str, object]:
    keep = ("job_id", "state", "stage", "error", "stage_durations_ms", "instance_records")
    return {k: summary[k] for k in keep if k in summary}
