"""The steps of one job's rollback on its instance, in the safe order, each idempotent.

1. The target message and each of its methods get back the mutual-auth values they had
   before the job (the ``previous_values`` artifact of ``enable``), as long as they use
   the job's profile and that profile still serves the job's keystore; once another job
   rotated it onto its own keystore, the messages are that job's and are left alone.
2. The protocol profile: deleted if the job created it (and nothing uses it any more);
   pointed back at its former keystore and port if it existed and the job rotated it
   (the ``profile_before`` artifact of ``create-profile``), that keystore activated first
   when a renewal's ``verify`` retired it (``keystore_deactivated``).
3. The job's keystore records (found on the instance by the job marker): deactivated
   first (KB1217702), then deleted with their attachment, unless a profile uses them.
4. The trust record, only if the job created it (``trust_before`` of ``register-trust``)
   and no other job that has not been rolled back relies on it: trust records are shared
   by fingerprint between jobs.

Jobs from before these artifacts existed fall back on their ``instance_record`` events.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from messages import Stage, TrustRegistered
from workers.machinery.deps import Deps
from workers.servicenow import ProfileState, TargetRef, tables
from workers.stages.import_chain import given_server_certificate
from workers.stages.restore import safe_values
from workers.stages.upload_keystore import job_marker
from workers.store import JobRecord
from workers.store.artifacts import Artifact

__all__ = ["RollbackStep", "Undo", "left_on_instance", "rolled_back_after_last_run"]

Action = Literal["restored", "pointed_back", "deactivated", "deleted", "kept"]


class RollbackStep(BaseModel):
    """One thing rollback did (or left alone, ``kept``, saying why)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action
    what: Literal["message", "method", "profile", "keystore", "trust"]
    table: str
    sys_id: str
    note: str = ""


def rolled_back_after_last_run(events: list[Any]) -> Any | None:
    """The last ``rolled_back`` event, if no stage started after it."""
    last = None
    for event in events:
        if event.kind == "rolled_back":
            last = event
        elif event.kind == "stage_started":
            last = None
    return last


def _records_noted(events: list[Any]) -> list[dict[str, Any]]:
    """What the job's stages noted making or changing on the instance (``instance_record``:
    keystore, trust, profile), the facts the steps below fall back on."""
    return [e.detail for e in events if e.kind == "instance_record"]


def left_on_instance(events: list[Any]) -> list[dict[str, str]]:
    """What of the job stays on its instance until it is rolled back, by its history: the
    records its stages noted (a trust record only if the job created it) and the message
    ``enable`` switched. Cancelling a job leaves them; empty when there is nothing to undo
    (none made, or rolled back since)."""
    if rolled_back_after_last_run(events) is not None:
        return []
    left: dict[tuple[str, str], dict[str, str]] = {}
    for detail in _records_noted(events):
        if detail.get("what") != "trust" or detail.get("created"):
            what, sys_id = str(detail.get("what")), str(detail.get("sys_id"))
            left[what, sys_id] = {"what": what, "table": str(detail.get("table")), "sys_id": sys_id}
    for event in events:
        if event.kind == "mutual_auth_enabled":
            sys_id = str(event.detail.get("sys_id"))
            table = str(event.detail.get("table"))
            left["message", sys_id] = {"what": "message", "table": table, "sys_id": sys_id}
    return list(left.values())


class Undo:
    """Runs the four steps for ``job``; ``record`` is called with each step as it is done."""

    def __init__(self, deps: Deps, job: JobRecord, record: Callable[[RollbackStep], None]) -> None:
        self.deps = deps
        self.job = job
        self.instance = deps.instances.get(job.request.instance)
        self._record = record
        self.steps: list[RollbackStep] = []
        history = deps.store.history(job.id)
        self._made = _records_noted(history)
        # the records a renewal's verify retired while they were active
        self._retired = {
            str(e.detail["sys_id"]) for e in history if e.kind == "keystore_deactivated"
        }

    def run(self) -> list[RollbackStep]:
        keystores = self.instance.keystore_records(job_marker(self.job.id))
        profile = self.instance.find_protocol_profile(self.job.request.protocol_profile.name)
        self._messages(self._live_profiles(profile, set(keystores)))
        self._profile(profile, set(keystores))
        self._keystores(keystores)
        self._trust()
        return self.steps

    # -- the four steps -------------------------------------------------------------------

    def _messages(self, live: set[str]) -> None:
        previous = self._json(Artifact.PREVIOUS_VALUES)
        if not previous:
            return
        spec = self.job.request.target
        found = self.instance.find_target(spec.kind.value, spec.name)
        if found is None or found.sys_id not in previous:
            table = found.table if found else ""
            self._step("kept", "message", table, "", f"{spec.name!r} is gone or was replaced")
            return
        methods = tuple(m for m in found.method_sys_ids if m in previous)
        target = found.model_copy(update={"method_sys_ids": methods})
        for sys_id, now in self.instance.read_mutual_auth(target).items():
            self._restore_one(target, sys_id, now, previous[sys_id], live)

    def _restore_one(
        self,
        target: TargetRef,
        sys_id: str,
        now: dict[str, str],
        before: dict[str, str],
        live: set[str],
    ) -> None:
        """Put one row back, if it still uses this job's configuration (``live``), with
        values that name only records able to serve (:mod:`workers.stages.restore`)."""
        columns = self.instance.mutual_columns(target, sys_id)
        what: Literal["message", "method"] = "message" if sys_id == target.sys_id else "method"
        table = target.table_of(sys_id)
        wanted = {c: before[c] for c in columns if c in before}
        current = now.get(columns[1], "")
        broken = (
            current not in live
            and bool(current)
            and bool(self.instance.profile_in_use(current).problem)
        )
        if current not in live and not broken:  # another job's configuration, or ours undone
            if any(now.get(c) != v for c, v in wanted.items()):
                note = f"uses protocol profile {current!r}, which serves another keystore"
                self._step("kept", what, table, sys_id, note)
            return
        safe = safe_values(self.deps, self.job, self.instance, target, sys_id, before)
        if all(now.get(c) == v for c, v in safe.values.items()):
            return
        self.instance.restore_mutual_auth(target, {sys_id: safe.values})
        note = json.dumps(safe.values, sort_keys=True) + (f" ({safe.note})" if safe.note else "")
        self._step("restored", what, table, sys_id, note)

    def _profile(self, current: ProfileState | None, keystores: set[str]) -> None:
        known, before = self._profile_before()
        if not known or current is None:
            return
        if current.keystore not in keystores:
            if before is None or current.keystore != before.keystore:
                note = f"points at keystore {current.keystore!r}, not at one of this job's"
                self._step("kept", "profile", tables.PROFILE, current.sys_id, note)
            return
        if before is not None:  # it existed: the job rotated it onto its keystore
            self._point_back(current, before)
            return
        users = self.instance.profile_users(current.sys_id, protocol=current.protocol)
        if users:
            note = "still used by " + ", ".join(f"{t} {s}" for t, s in users)
            self._step("kept", "profile", tables.PROFILE, current.sys_id, note)
            return
        self.instance.delete_record(tables.PROFILE, current.sys_id)
        self._step("deleted", "profile", tables.PROFILE, current.sys_id)

    def _point_back(self, current: ProfileState, before: ProfileState) -> None:
        if before.keystore and not self.instance.record_exists(tables.CERTIFICATE, before.keystore):
            note = (
                f"its former keystore {before.keystore} is gone (rolled back before this"
                " job?); left on this job's keystore so that it keeps working"
            )
            self._step("kept", "profile", tables.PROFILE, current.sys_id, note)
            return
        if before.keystore in self._retired:  # active again before the profile points at it
            self.instance.activate_keystore_record(before.keystore)
            note = "active again: the renewal had retired it"
            self._step("restored", "keystore", tables.CERTIFICATE, before.keystore, note)
        self.instance.restore_protocol_profile(
            current.sys_id, keystore=before.keystore, default_port=before.default_port
        )
        self._step("pointed_back", "profile", tables.PROFILE, current.sys_id, before.keystore)

    def _keystores(self, keystores: list[str]) -> None:
        for sys_id in keystores:
            users = self.instance.profiles_using(sys_id)
            if users:
                note = "still used by protocol profile " + ", ".join(users)
                self._step("kept", "keystore", tables.CERTIFICATE, sys_id, note)
                continue
            self.instance.deactivate_record(tables.CERTIFICATE, sys_id)
            self._step("deactivated", "keystore", tables.CERTIFICATE, sys_id)
            self.instance.delete_record(tables.CERTIFICATE, sys_id)
            self._step("deleted", "keystore", tables.CERTIFICATE, sys_id, "with its attachment")

    def _trust(self) -> None:
        ids = {str(e["sys_id"]) for e in self._made if e.get("what") == "trust"}
        registered = self.deps.store.progress.get_output(self.job.id, Stage.REGISTER_TRUST)
        if registered is not None:
            ids.add(TrustRegistered.model_validate_json(registered.message).trust_sys_id)
        before = self._json(Artifact.TRUST_BEFORE)
        if before is not None:
            created = not before.get("sys_id")
            fetched = self.deps.store.artifacts.get(self.job.id, Artifact.SERVER_CERTIFICATE)
            der = given_server_certificate(self.job.request) or fetched
            if created and not ids and der is not None:  # made, but not yet said so
                found = self.instance.find_trust_record(der)
                ids.update([found] if found else [])
        else:
            created = any(e.get("created") for e in self._made if e.get("what") == "trust")
        for sys_id in sorted(ids):
            self._trust_one(sys_id, created)

    def _trust_one(self, sys_id: str, created: bool) -> None:
        if not created:
            self._step("kept", "trust", tables.CERTIFICATE, sys_id, "it existed before the job")
            return
        others = sorted(self._jobs_relying_on(sys_id))
        if others:
            note = "other jobs rely on it: " + ", ".join(others)
            self._step("kept", "trust", tables.CERTIFICATE, sys_id, note)
            return
        self.instance.delete_record(tables.CERTIFICATE, sys_id)
        self._step("deleted", "trust", tables.CERTIFICATE, sys_id)

    # -- what the job knows about itself --------------------------------------------------

    def _json(self, name: str) -> dict[str, Any] | None:
        data = self.deps.store.artifacts.get(self.job.id, name)
        return None if data is None else dict(json.loads(data))

    def _live_profiles(self, current: ProfileState | None, keystores: set[str]) -> set[str]:
        """The profiles through which this job's configuration is still the live one: its
        profile while it points at one of the job's keystores (or is gone). Once another
        job rotated the profile onto its own keystore, the messages are that job's."""
        if current is None:
            return {str(e["sys_id"]) for e in self._made if e.get("what") == "profile"}
        return {current.sys_id} if current.keystore in keystores else set()

    def _profile_before(self) -> tuple[bool, ProfileState | None]:
        """(known, the profile before the job: None when there was none)."""
        kept = self._json(Artifact.PROFILE_BEFORE)
        if kept is not None:
            return True, ProfileState.model_validate(kept) if kept else None
        recorded = [e for e in self._made if e.get("what") == "profile"]
        if any(e.get("created") for e in recorded):
            return True, None
        rotated = next((e["previous_keystore"] for e in recorded if e.get("previous_keystore")), "")
        if not rotated:  # never reached create-profile, or nothing to tell
            return False, None
        port = str(self.job.request.protocol_profile.port)
        return True, ProfileState(sys_id="", protocol="", default_port=port, keystore=rotated)

    def _jobs_relying_on(self, trust_sys_id: str) -> Iterator[str]:
        """Other jobs on this instance that registered the record and were not rolled back."""
        store = self.deps.store
        offset, page = 0, 200
        while True:
            jobs = store.list_jobs(instance=self.job.request.instance, limit=page, offset=offset)
            for other in jobs:
                if other.id != self.job.id and self._relies(other.id, trust_sys_id):
                    yield other.id
            if len(jobs) < page:
                return
            offset += page

    def _relies(self, job_id: str, trust_sys_id: str) -> bool:
        store = self.deps.store
        output = store.progress.get_output(job_id, Stage.REGISTER_TRUST)
        if output is None or trust_sys_id not in output.message:
            return False
        return rolled_back_after_last_run(store.history(job_id)) is None

    def _step(self, action: Action, what: Any, table: str, sys_id: str, note: str = "") -> None:
        step = RollbackStep(action=action, what=what, table=table, sys_id=sys_id, note=note)
        self.steps.append(step)
        self._record(step)
