"""How a job looks to people: its summary, its progress lines, its exported files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from messages import JobEvent
from ops.views.progress_lines import event_line
from ops.views.safefiles import prepare_out_dir, write_file
from workers.store import JobRecord, Store
from workers.store.artifacts import Artifact

__all__ = ["export_artifacts", "follow", "progress_line", "summarise"]


def progress_line(event: JobEvent) -> str | None:
    """One readable line for the events worth showing while a job runs, else None."""
    return event_line(event.model_dump(mode="json"))


def summarise(store: Store, job: JobRecord) -> dict[str, Any]:
    history = store.history(job.id)
    durations: dict[str, float] = {}
    created: list[dict[str, Any]] = []
    for event in history:
        if event.kind == "stage_completed" and event.stage:
            durations[event.stage.value] = float(event.detail.get("duration_ms", 0.0))
        if event.kind == "instance_record":
            created.append(
                {
                    "what": event.detail.get("what"),
                    "table": event.detail.get("table"),
                    "sys_id": event.detail.get("sys_id"),
                    "created": event.detail.get("created"),
                }
            )
    return {
        **job.summary(),
        "stage_durations_ms": durations,
        "instance_records": created,
        "events": len(history),
    }


def export_artifacts(store: Store, job: JobRecord, out: Path, summary: dict[str, Any]) -> list[str]:
    """Write the keystore, its password (0600), the client certificate and the CA chain.

    This is the audited way a private key leaves twoway besides the upload: the export is
    recorded in the job's history.
    """
    prepare_out_dir(out)
    extension = "p12" if job.request.keystore.format == "pkcs12" else "jks"
    files: dict[str, tuple[str, int]] = {
        Artifact.KEYSTORE: (f"keystore.{extension}", 0o600),
        Artifact.KEYSTORE_PASSWORD: ("keystore.password", 0o600),
        Artifact.CLIENT_CERT_PEM: ("client-cert.pem", 0o644),
        Artifact.CLIENT_CERT_DER: ("client-cert.der", 0o644),
        Artifact.CA_CHAIN_PEM: ("ca-chain.pem", 0o644),
        Artifact.CSR: ("csr.pem", 0o644),
    }
    written = []
    for artifact, (name, mode) in files.items():
        data = store.artifacts.get(job.id, artifact)
        if data is not None:
            write_file(out / name, data, mode)
            written.append(name)
    write_file(out / "summary.json", json.dumps(summary, indent=2).encode() + b"\n")
    written.append("summary.json")
    store.note(job.id, "artifacts_exported", {"directory": str(out.resolve()), "files": written})
    return written


def follow(
    store: Store,
    job_id: str,
    show: Callable[[str], None],
    *,
    timeout: float,
    poll: float = 0.1,
    until: Callable[[JobRecord], bool] = lambda job: job.terminal,
    since: int = 0,
) -> JobRecord:
    """Print progress lines until ``until(job)`` holds or ``timeout`` passes.

    ``since``: how many events of the history to pass over (those shown before).
    """
    deadline = time.monotonic() + timeout
    seen = since
    while True:
        # The job before its history: the history read after holds every event up to the
        # state seen, so the events that ended the job are shown before returning.
        job = store.get_job(job_id)
        history = store.history(job_id)
        for event in history[seen:]:
            line = progress_line(event)
            if line:
                show(line)
        seen = len(history)
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(poll)
