"""Runbook step 8: tick "Use mutual authentication" and pick the profile, on the message
and on each of its HTTP methods. The values found first are kept for rollback.
"""

from __future__ import annotations

import json

from messages import MutualAuthEnabled, ProfileCreated
from workers.errors import PermanentError
from workers.machinery.context import StageContext

__all__ = ["enable", "find_target"]


def find_target(ctx: StageContext):  # type: ignore[no-untyped-def]
    target = ctx.request.target
    found = ctx.instance().find_target(target.kind.value, target.name)
    if found is None:
        raise PermanentError(
            f"no {target.kind.value.upper()} message named {target.name!r} on the instance",
            hint="check target.name, or whether an ACL hides the message from the integration user",
        )
    return found


def enable(msg: ProfileCreated, ctx: StageContext) -> MutualAuthEnabled:
    instance = ctx.instance()
    target = find_target(ctx)
    if ctx.artifact("previous_values") is None:  # the first run sees the values before us
        previous = instance.read_mutual_auth(target)
        ctx.keep("previous_values", json.dumps(previous, sort_keys=True).encode())
    instance.enable_mutual_auth(target, msg.profile_sys_id)
    ctx.note(
        "mutual_auth_enabled",
        table=target.table,
        sys_id=target.sys_id,
        methods=list(target.method_sys_ids),
    )
    return MutualAuthEnabled(
        job_id=msg.job_id,
        profile_sys_id=msg.profile_sys_id,
        target_table=target.table,
        target_sys_id=target.sys_id,
        method_sys_ids=list(target.method_sys_ids),
    )
