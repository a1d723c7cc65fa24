"""``twoway demo``: one job end to end on the stack of ``twoway up``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

from messages import JobState, KeyType
from workers.broker import BrokerKind
from workers.logs import configure_logging

from .jobview import export_artifacts, follow, summarise
from .stack import Stack, StackOptions

__all__ = ["run_demo"]


def run_demo(
    *,
    key: KeyType = KeyType.RSA2048,
    out: Path | None = None,
    broker: BrokerKind = "stub",
    timeout: float = 300.0,
    stream: TextIO = sys.stdout,
) -> int:
    """Run one job; exit status 0 only when it succeeded."""

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    stack = Stack(StackOptions(broker=broker))
    log_path = stack.state_dir / "twoway.log"
    configure_logging(stream=log_path.open("a", buffering=1, encoding="utf-8"), json=True)
    say("twoway demo: outbound mutual TLS for a ServiceNow REST message, end to end")
    with stack.start():
        assert stack.app is not None
        say(f"  sandbox instance  {stack.sandbox.url}")
        say(f"  third party       {stack.third_party.url} (requires a client certificate)")
        say(
            f"  broker            {broker}"
            + (f" ({stack.queue_prefix}.*)" if broker != "stub" else "")
        )
        job, _ = stack.app.submit(stack.example_job(key))
        say(f"job {job.id}: key {key.value}, target 'Payments API', CA 'local'")
        final = follow(stack.app.store, job.id, say, timeout=timeout)
        summary = summarise(stack.app.store, final)
        if out is not None:
            files = export_artifacts(stack.app.store, final, out, summary)
            say(f"wrote {', '.join(files)} to {out}")
        say(json.dumps(_short(summary), indent=2))
        if final.state is not JobState.SUCCEEDED:
            say(f"the job did not succeed; the log is in {log_path}")
            stack.options.keep_state = True
        return 0 if final.state is JobState.SUCCEEDED else 1


def _short(summary: dict[str, object]) -> dict[str, object]:
    keep = ("job_id", "state", "stage", "error", "stage_durations_ms", "instance_records")
    return {k: summary[k] for k in keep if k in summary}
