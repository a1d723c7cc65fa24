"""Putting a message back as it was, without ever pointing it at a broken record.

The values a job found before it switched a message (its ``previous_values``) may name a
profile that is gone by now, or whose keystore is gone or inactive: another job's
rollback deleted it. Restoring them would leave the message on a deleted record. So each
row's values are checked first (``Instance.profile_in_use``); a broken profile is traced
to the job that set it up on this message, and that job's own previous values are tried
in turn; when nothing usable is left, mutual auth goes off (profile empty), and the
reason says so. Used by ``verify`` to switch a first job back when it does not verify,
and by rollback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from messages import ProfileCreated, Stage
from workers.machinery.deps import Deps
from workers.servicenow import Instance, TargetRef
from workers.store import JobRecord
from workers.store.artifacts import Artifact

__all__ = ["SafeValues", "safe_values", "target_jobs"]

_PAGE = 200


@dataclass(frozen=True)
class SafeValues:
    """What to write on one row, and why it is not simply the previous values."""

    values: dict[str, str]
    note: str = ""


def safe_values(
    deps: Deps,
    job: JobRecord,
    instance: Instance,
    target: TargetRef,
    sys_id: str,
    before: dict[str, str],
) -> SafeValues:
    """``before`` for row ``sys_id`` if every record it names can serve; else the values
    of the job that set up that profile, walked back; else mutual auth off."""
    mutual, profile = instance.mutual_columns(target, sys_id)
    seen: set[str] = set()
    trail: list[str] = []
    values = {c: before[c] for c in (mutual, profile) if c in before}
    while values.get(profile):
        found = instance.profile_in_use(values[profile])
        if not found.problem:
            return SafeValues(values, "; ".join(trail))
        trail.append(found.problem)
        seen.add(values[profile])
        earlier = _earlier_values(deps, job, values[profile], sys_id, profile, seen)
        if earlier is None:
            off = {mutual: "false", profile: ""}
            return SafeValues(off, "; ".join([*trail, "mutual authentication turned off"]))
        values = {c: earlier[c] for c in (mutual, profile) if c in earlier}
        trail.append(f"went back to the values before the job that set up {found.sys_id}")
    return SafeValues(values, "; ".join(trail))


def _earlier_values(
    deps: Deps, job: JobRecord, profile_sys_id: str, sys_id: str, column: str, seen: set[str]
) -> dict[str, str] | None:
    """The previous values of row ``sys_id`` kept by a job that set up the profile (one
    whose values lead somewhere not yet tried)."""
    for other in target_jobs(deps, job):
        recorded = deps.store.progress.get_output(other.id, Stage.CREATE_PROFILE)
        if recorded is None:
            continue
        made = ProfileCreated.model_validate_json(recorded.message)
        kept = deps.store.artifacts.get(other.id, Artifact.PREVIOUS_VALUES)
        if made.profile_sys_id == profile_sys_id and kept is not None:
            row = json.loads(kept).get(sys_id)
            if row is not None and row.get(column) not in seen:
                return dict(row)
    return None


def target_jobs(deps: Deps, job: JobRecord) -> Iterator[JobRecord]:
    """The other jobs for the same instance and target message, newest first."""
    offset = 0
    while True:
        page = deps.store.list_jobs(instance=job.request.instance, limit=_PAGE, offset=offset)
        for other in page:
            if other.id != job.id and other.request.target == job.request.target:
                yield other
        if len(page) < _PAGE:
            return
        offset += _PAGE
