"""Progress lines: one readable line per history event worth showing while a job runs.

It imports nothing heavy, so the CLI's client commands start fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["event_line"]

_MARK = {
    "stage_completed": "ok",
    "stage_retry": "retry",
    "stage_failed": "FAILED",
    "waiting_for_ca": "paused",
    "waiting_for_third_party": "paused",
    "third_party_resumed": "resume",
    "switch_proved": "proved",
    "switch_unproven": "UNPROVEN",
    "switched_back": "back",
    "third_party_wait_expired": "FAILED",
    "job_succeeded": "done",
    "servicenow_retry": "retry",
    "servicenow_wait": "wait",
    "replay_requested": "replay",
    "job_cancelled": "cancel",
    "ca_resumed": "resume",
    "certificate_rejected": "refuse",
    "callback_refused": "refuse",
    "ca_wait_expired": "FAILED",
    "job_stalled": "STALL",
}
_WITH_REASON = (
    "stage_failed",
    "stage_retry",
    "certificate_rejected",
    "callback_refused",
    "ca_wait_expired",
    "third_party_wait_expired",
    "job_stalled",
)


def event_line(event: Mapping[str, Any]) -> str | None:
    """One readable line for the events worth showing while a job runs, else None.

    ``event`` is a history event as JSON (the API's form, or ``JobEvent.model_dump``).
    """
    kind, detail = str(event.get("kind")), event.get("detail") or {}
    mark = _MARK.get(kind)
    if mark is None:
        return None
    stage = event.get("stage") or "-"
    if kind == "stage_completed":
        return f"  [{mark:>6}] {stage:<16} {detail.get('duration_ms', 0):>8.1f} ms"
    if kind in _WITH_REASON:
        hint = f" ({detail['hint']})" if detail.get("hint") else ""
        return f"  [{mark:>6}] {stage:<16} {detail.get('message', '')}{hint}"
    if kind.startswith("servicenow_"):
        status = detail.get("status") or "no answer"
        return f"  [{mark:>6}] {stage:<16} {detail.get('method')} {detail.get('path')}: {status}"
    if kind in ("ca_resumed", "third_party_resumed"):
        return f"  [{mark:>6}] {stage:<16} by {detail.get('actor')} ({detail.get('source')})"
    if kind in ("waiting_for_ca", "switch_unproven", "switched_back"):
        return f"  [{mark:>6}] {stage:<16} {detail.get('reason', '')}"
    if kind == "waiting_for_third_party":
        return f"  [{mark:>6}] {stage:<16} {detail.get('reason', '')}: {detail.get('answer', '')}"
    if kind == "switch_proved":
        endpoint = detail.get("endpoint")
        return f"  [{mark:>6}] {stage:<16} handshake with {endpoint} before the switch"
    if kind in ("replay_requested", "job_cancelled"):
        forced = " (forced)" if detail.get("force") else ""
        return f"  [{mark:>6}] {stage:<16} by {detail.get('actor')}{forced}: {detail.get('reason')}"
    return f"  [{mark:>6}] job {event.get('job_id', '')} succeeded"
