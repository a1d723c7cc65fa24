"""Runbook step 7: the Protocol Profile, pointing at the keystore record.

An existing profile of that name bound to another keystore is refused unless the job
says ``rotate``. The profile as it was before the job is kept (``profile_before``), so
that rollback can delete what the job created or point a rotated profile back.
"""

from __future__ import annotations

import json

from messages import ProfileCreated, TrustRegistered

from ..context import StageContext

__all__ = ["create_profile"]


def create_profile(msg: TrustRegistered, ctx: StageContext) -> ProfileCreated:
    spec = ctx.request.protocol_profile
    instance = ctx.instance()
    if ctx.artifact("profile_before") is None:  # the first run sees the instance before us
        found = instance.find_protocol_profile(spec.name)
        before = found.model_dump() if found is not None else {}
        ctx.keep("profile_before", json.dumps(before, sort_keys=True).encode())
    record = instance.ensure_protocol_profile(
        protocol=spec.name,
        port=spec.port,
        keystore_sys_id=msg.keystore_sys_id,
        rotate=ctx.request.rotate,
    )
    ctx.note(
        "instance_record",
        table="sys_protocol_profile",
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
