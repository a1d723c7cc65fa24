"""A renewal's ``verify``: prove the new keystore, switch to it, prove it again, retire
the old one. Until the new keystore has handshaken with the third party, nothing the
integration uses changes; if the configuration does not verify after the switch, the
profile is pointed back at the old keystore.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from messages import JobVerified, KeystoreUploaded, MutualAuthEnabled, ProfileCreated, Stage
from workers import pki
from workers.errors import PermanentError, VerificationFailed
from workers.machinery.context import StageContext
from workers.servicenow import tables
from workers.stages.prove import find_target, prove_attached
from workers.stages.restore import safe_values
from workers.store.artifacts import Artifact

__all__ = ["old_keystore", "switch_back", "verify_and_switch"]

Check = Callable[[MutualAuthEnabled, StageContext], JobVerified]
Handshake = Callable[[StageContext, bytes, str], pki.HandshakeResult]


def old_keystore(ctx: StageContext) -> KeystoreUploaded:
    """What the renewed job uploaded: the record in use until the switch."""
    assert ctx.job.renews is not None
    recorded = ctx.output_of(ctx.job.renews, Stage.UPLOAD_KEYSTORE, KeystoreUploaded)
    if recorded is None:
        raise PermanentError(
            f"the renewed job {ctx.job.renews} has no keystore record on file",
            hint="renew a job that succeeded, or submit a new job",
        )
    return recorded


def verify_and_switch(
    msg: MutualAuthEnabled, ctx: StageContext, *, check: Check, handshake: Handshake
) -> JobVerified:
    old, new = old_keystore(ctx), ctx.output(Stage.UPLOAD_KEYSTORE, KeystoreUploaded)
    try:
        _prove_before_switch(ctx, new, handshake)
    except VerificationFailed as exc:
        ctx.note_on_renewed("renewal_failed", renewal=ctx.job.id, **exc.as_dict())
        raise
    _switch(ctx, to=new.keystore_sys_id, kind="renewal_switched")
    try:
        verified = check(msg, ctx)
    except VerificationFailed:
        _switch(ctx, to=old.keystore_sys_id, kind="renewal_switched_back")  # what worked
        ctx.instance().deactivate_record(tables.CERTIFICATE, new.keystore_sys_id)
        ctx.note_on_renewed("renewal_failed", renewal=ctx.job.id)
        raise
    if old.keystore_sys_id != new.keystore_sys_id:
        _retire(ctx, old.keystore_sys_id)
    ctx.note_on_renewed(
        "keystore_retired",
        sys_id=old.keystore_sys_id,
        replaced_by=new.keystore_sys_id,
        by=ctx.job.id,
    )
    return verified


def _retire(ctx: StageContext, sys_id: str) -> None:
    """Deactivate the record the profile served before; when it was active, say so on
    this job, so that rolling the renewal back activates it before the profile points at
    it again (workers/levers/undo.py)."""
    instance = ctx.instance()
    was_active = instance.record_active(tables.CERTIFICATE, sys_id)
    instance.deactivate_record(tables.CERTIFICATE, sys_id)
    if was_active:
        ctx.note("keystore_deactivated", sys_id=sys_id)


def _prove_before_switch(ctx: StageContext, new: KeystoreUploaded, handshake: Handshake) -> None:
    """The new keystore, as attached on the instance, handshakes with the third party."""
    endpoint = find_target(ctx).endpoint
    result = prove_attached(ctx, new, endpoint, handshake=handshake)
    ctx.note("renewal_proved", endpoint=endpoint, protocol=result.protocol)


def _switch(ctx: StageContext, *, to: str, kind: str) -> None:
    """Activate keystore record ``to`` and point the protocol profile at it."""
    spec, instance = ctx.request.protocol_profile, ctx.instance()
    instance.activate_keystore_record(to)
    record = instance.ensure_protocol_profile(
        protocol=spec.name, port=spec.port, keystore_sys_id=to, rotate=True
    )
    detail = {"profile": record.sys_id, "keystore": to, "previous": record.previous_keystore}
    ctx.note(kind, **detail)
    assert ctx.job.renews is not None
    ctx.note_on_renewed(kind, renewal=ctx.job.id, **detail)


def switch_back(ctx: StageContext) -> None:
    """A first job that does not verify after ``enable`` switched the message: the
    message and methods that use the job's profile get their previous values back (checked
    by :func:`workers.stages.restore.safe_values`), and a profile the job rotated points at
    its former keystore again, so that what worked before is what runs."""
    previous_json = ctx.artifact(Artifact.PREVIOUS_VALUES)
    created = ctx.output_of(ctx.job.id, Stage.CREATE_PROFILE, ProfileCreated)
    if previous_json is None or created is None:
        return
    profile = created.profile_sys_id
    instance, target = ctx.instance(), find_target(ctx)
    previous = json.loads(previous_json)
    restored: dict[str, dict[str, str]] = {}
    for sys_id, now in instance.read_mutual_auth(target).items():
        _, column = instance.mutual_columns(target, sys_id)
        if sys_id not in previous or now.get(column) != profile:
            continue
        safe = safe_values(ctx.deps, ctx.job, instance, target, sys_id, previous[sys_id])
        if any(now.get(c) != v for c, v in safe.values.items()):
            restored[sys_id] = safe.values
            if safe.note:
                ctx.note("restore_adjusted", sys_id=sys_id, reason=safe.note)
    if restored:
        instance.restore_mutual_auth(target, restored)
        ctx.note("switched_back", rows=sorted(restored), reason="verify failed after the switch")
    _point_profile_back(ctx, profile)


def _point_profile_back(ctx: StageContext, profile_sys_id: str) -> None:
    """A profile ``enable`` rotated onto this job's keystore serves the former one again."""
    rotated = [
        e.detail
        for e in ctx.history()
        if e.kind == "instance_record"
        and e.detail.get("what") == "profile"
        and e.detail.get("sys_id") == profile_sys_id
        and not e.detail.get("created")
        and e.detail.get("previous_keystore")
    ]
    if not rotated:
        return
    former = str(rotated[-1]["previous_keystore"])
    instance = ctx.instance()
    if instance.record_exists(tables.CERTIFICATE, former):
        port = str(ctx.request.protocol_profile.port)
        instance.restore_protocol_profile(profile_sys_id, keystore=former, default_port=port)
        ctx.note("profile_pointed_back", profile=profile_sys_id, keystore=former)
