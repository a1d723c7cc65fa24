"""What the console's pages show, built from what the JSON API returns (no secrets)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from messages import WAITING_STATES, JobState, Stage
from workers.app import App
from workers.levers.waiting import waiting_page
from workers.store import JobRecord
from workers.store.artifacts import Artifact

__all__ = [
    "WAITING_PREFIX",
    "human_duration",
    "instance_holds",
    "is_waiting",
    "job_view",
    "replay_choices",
    "timeline",
    "waiting_list",
]

WAITING_PREFIX = "waiting_for_"
_SYS_ID = re.compile(r"[0-9a-f]{32}")  # a ServiceNow record's id, as a value shows it
_DONE, _FAILED = "done", "failed"
# What replaying these stages with force makes anew (the API's ``force``, workers.levers.replay).
_ANEW = {
    Stage.GENERATE: "a new key, CSR and certificate",
    Stage.CSR: "a new CSR, to be signed again",
    Stage.WAIT_FOR_CA: "a new certificate from the CA",
}


def is_waiting(state: str) -> bool:
    """A paused job (for its CA, or for a third party): any state named waiting_for_*."""
    return state.startswith(WAITING_PREFIX)


def job_view(app: App, job: JobRecord) -> dict[str, Any]:
    """The API's job view (GET /v1/jobs/{id}): the summary and the history."""
    history = [e.model_dump(mode="json", exclude={"job_id"}) for e in app.store.history(job.id)]
    return {**job.summary(), "history": history}


def timeline(app: App, view: dict[str, Any]) -> list[dict[str, Any]]:
    """Each stage in pipeline order: its state, attempts and last duration."""
    durations: dict[str, float] = {}
    finished: set[str] = set()
    for event in view["history"]:
        stage = event.get("stage")
        if event["kind"] == "stage_completed" and stage:
            durations[stage] = float(event["detail"].get("duration_ms", 0.0))
            finished.add(stage)
        elif event["kind"] == "replay_requested":
            finished -= set(_after(app, event["stage"], inclusive=True))
    order = [route.stage.value for route in app.runtime.routes]
    current = view["stage"]
    rows = []
    for name in order:
        state = _stage_state(name, current, view["state"], finished)
        rows.append(
            {
                "stage": name,
                "state": state,
                "attempts": view["attempts"].get(name, 0),
                "duration_ms": durations.get(name) if name in finished else None,
            }
        )
    return rows


def _after(app: App, stage: str | None, *, inclusive: bool) -> list[str]:
    order = [route.stage.value for route in app.runtime.routes]
    if stage not in order:
        return []
    start = order.index(stage) + (0 if inclusive else 1)
    return order[start:]


def _stage_state(name: str, current: str | None, job_state: str, finished: set[str]) -> str:
    if name == current:
        if job_state == JobState.SUCCEEDED.value:
            return _DONE
        if job_state == JobState.FAILED.value:
            return _FAILED
        if is_waiting(job_state):
            return "waiting"
        if job_state == JobState.CANCELLED.value:
            return "cancelled"
        return "running" if name not in finished else _DONE
    return _DONE if name in finished else "pending"


def instance_holds(view: dict[str, Any], stored: dict[str, tuple[bytes, bool]]) -> dict[str, Any]:
    """Records the job made or uses on its instance, and the values kept for rollback.

    ``stored``: the job's artifacts as stored (``Artifacts.stored_for``); the values kept
    for rollback are shown only as stored in the clear (a sealed artifact is a secret).
    """
    records = [
        {
            "what": e["detail"].get("what"),
            "table": e["detail"].get("table"),
            "sys_id": e["detail"].get("sys_id"),
            "created": e["detail"].get("created"),
            "previous_keystore": e["detail"].get("previous_keystore"),
        }
        for e in view["history"]
        if e["kind"] == "instance_record"
    ]
    values = _clear_json(stored, Artifact.PREVIOUS_VALUES)
    names = _clear_json(stored, Artifact.PREVIOUS_PROFILE_NAMES)
    previous = {
        str(sys_id): {
            str(field): _shown(str(value), names.get(sys_id, {}).get(field))
            for field, value in fields.items()
        }
        for sys_id, fields in values.items()
    }
    return {"records": records, "previous_values": previous}


def _clear_json(stored: dict[str, tuple[bytes, bool]], artifact: Artifact) -> dict[str, Any]:
    """An artifact stored in the clear, as JSON ({} if absent or sealed: a secret)."""
    raw, sealed = stored.get(artifact, (b"", True))
    loaded = json.loads(raw) if raw and not sealed else {}
    return loaded if isinstance(loaded, dict) else {}


def _shown(value: str, name: str | None) -> dict[str, str | None]:
    """A value before the job, for people: a profile by the name ``plan`` shows (the
    enable stage read it), any other sys_id marked as one whose name is not on record."""
    if name:
        return {"value": name, "sys_id": value}
    if _SYS_ID.fullmatch(value):
        return {"value": None, "sys_id": value}
    return {"value": value, "sys_id": None}


def replay_choices(app: App, job: JobRecord) -> list[dict[str, Any]]:
    """The stages the API lets this job replay (see workers.levers.replay), with what force does."""
    order = [route.stage for route in app.runtime.routes]
    if job.state is JobState.SUCCEEDED:
        allowed = [Stage.VERIFY]
    elif job.state is JobState.FAILED:
        failed_at = job.stage or order[0]
        allowed = order[: order.index(failed_at) + 1]
    else:
        return []
    return [{"stage": s.value, "anew": _ANEW.get(s)} for s in allowed]


def waiting_list(
    app: App, now: datetime | None = None, *, after: tuple[datetime, str] | None = None
) -> tuple[list[dict[str, Any]], tuple[datetime, str] | None]:
    """A page of paused jobs, the longest waiting first: what each waits for, since when,
    and until when it may; and where the next page begins (None: the last page)."""
    moment = now or datetime.now(UTC)
    found, more = waiting_page(app.store, app.config, WAITING_STATES, after=after, limit=100)
    rows = [
        {
            **w.summary(moment),
            "state": w.job.state.value,
            "waits_for": _WAITS_FOR[w.waits_for].format(profile=w.profile),
            "overdue": w.deadline is not None and w.deadline <= moment,
        }
        for w in found
    ]
    return rows, more


_WAITS_FOR = {
    "ca": "its CA ({profile}) to sign the CSR",
    "third_party": "the third party to install our client certificate (re-probed by the poller)",
}


def human_duration(seconds: float) -> str:
    """3 d 4 h, 5 h 2 min, 12 min, 40 s."""
    left = timedelta(seconds=max(0, int(seconds)))
    days, rest = left.days, left.seconds
    hours, minutes = rest // 3600, rest % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{rest} s"
