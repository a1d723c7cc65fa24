"""Runbook step 7: the Protocol Profile, pointing at the keystore record.

An existing profile of that name bound to another keystore is refused unless the job
says ``rotate``. A renewal leaves the profile as it is; ``verify`` switches it once the
new keystore has proved itself. The profile as it was before the job is kept
(``profile_before``), so that rollback can delete what the job created or point a
rotated profile back.
"""

from __future__ import annotations

import json

from messages import ProfileCreated, TrustRegistered
from workers.errors import ServiceNowConflict
from workers.machinery.context import StageContext
from workers.servicenow import tables
from workers.store.artifacts import Artifact

__all__ = ["create_profile"]


def create_profile(msg: TrustRegistered, ctx: StageContext) -> ProfileCreated:
    spec = ctx.request.protocol_profile
    instance = ctx.instance()
    if ctx.artifact(Artifact.PROFILE_BEFORE) is None:  # the first run sees the instance before us
        found = instance.find_protocol_profile(spec.name)
        before = found.model_dump() if found is not None else {}
        ctx.keep(Artifact.PROFILE_BEFORE, json.dumps(before, sort_keys=True).encode())
    if ctx.job.renews is not None or _rotation_deferred(msg, ctx):
        return _keep_for_renewal(msg, ctx)
    record = instance.ensure_protocol_profile(
        protocol=spec.name,
        port=spec.port,
        keystore_sys_id=msg.keystore_sys_id,
        rotate=ctx.request.rotate,
    )
    ctx.note(
        "instance_record",
        table=tables.PROFILE,
        sys_id=record.sys_id,
        created=record.created,
        what="profile",
        previous_keystore=record.previous_keystore,
    )
    return ProfileCreated(
        job_id=msg.job_id,
        keystore_sys_id=msg.keystore_sys_id,
        trust_sys_id=msg.trust_sys_id,
        profile_sys_id=record.sys_id,
        protocol=spec.name,
    )


def _rotation_deferred(msg: TrustRegistered, ctx: StageContext) -> bool:
    """A profile to rotate that messages use now keeps serving its keystore until
    ``enable`` has proven the new one (then it is pointed at it there)."""
    if not ctx.request.rotate:
        return False
    instance = ctx.instance()
    found = instance.find_protocol_profile(ctx.request.protocol_profile.name)
    if found is None or found.keystore == msg.keystore_sys_id:
        return False
    users = instance.profile_users(found.sys_id, protocol=found.protocol)
    if users:
        ctx.note(
            "profile_rotation_deferred",
            profile=found.sys_id,
            keystore=found.keystore,
            used_by=[sys_id for _, sys_id in users],
        )
    return bool(users)


def _keep_for_renewal(msg: TrustRegistered, ctx: StageContext) -> ProfileCreated:
    """A renewal (or a rotation of a profile in use) leaves the profile on the old
    keystore; ``verify`` (or ``enable``, once proven) switches it."""
    spec = ctx.request.protocol_profile
    found = ctx.instance().find_protocol_profile(spec.name)
    if found is None:
        raise ServiceNowConflict(
            f"protocol profile {spec.name!r}, which the renewed job set up, is gone",
            hint="submit a new job for this target instead of a renewal",
        )
    return ProfileCreated(
        job_id=msg.job_id,
        keystore_sys_id=msg.keystore_sys_id,
        trust_sys_id=msg.trust_sys_id,
        profile_sys_id=found.sys_id,
        protocol=spec.name,
    )
