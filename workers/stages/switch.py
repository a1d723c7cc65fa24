"""A renewal's ``verify``: prove the new keystore, switch to it, prove it again, retire
the old one. Until the new keystore has handshaken with the third party, nothing the
integration uses changes; if the configuration does not verify after the switch, the
profile is pointed back at the old keystore.
"""

from __future__ import annotations

from collections.abc import Callable

from messages import JobVerified, KeystoreUploaded, MutualAuthEnabled, Stage
from workers import pki
from workers.errors import PermanentError, VerificationFailed
from workers.machinery.context import StageContext, sha256_hex
from workers.stages.enable import find_target

__all__ = ["old_keystore", "verify_and_switch"]

_CERTIFICATE = "sys_certificate"
Check = Callable[[MutualAuthEnabled, StageContext], JobVerified]
Handshake = Callable[[StageContext, bytes, str], pki.HandshakeResult]


def old_keystore(ctx: StageContext) -> KeystoreUploaded:
    """What the renewed job uploaded: the record in use until the switch."""
    assert ctx.job.renews is not None
    recorded = ctx.deps.store.progress.get_output(ctx.job.renews, Stage.UPLOAD_KEYSTORE)
    if recorded is None:
        raise PermanentError(
            f"the renewed job {ctx.job.renews} has no keystore record on file",
            hint="renew a job that succeeded, or submit a new job",
        )
    return KeystoreUploaded.model_validate_json(recorded.message)


def verify_and_switch(
    msg: MutualAuthEnabled, ctx: StageContext, *, check: Check, handshake: Handshake
) -> JobVerified:
    old, new = old_keystore(ctx), ctx.output(Stage.UPLOAD_KEYSTORE, KeystoreUploaded)
    renewed = ctx.job.renews
    assert renewed is not None
    try:
        _prove_before_switch(ctx, new, handshake)
    except VerificationFailed as exc:
        ctx.deps.store.note(renewed, "renewal_failed", {"renewal": ctx.job.id, **exc.as_dict()})
        raise
    _switch(ctx, to=new.keystore_sys_id, kind="renewal_switched")
    try:
        verified = check(msg, ctx)
    except VerificationFailed:
        _switch(ctx, to=old.keystore_sys_id, kind="renewal_switched_back")  # what worked
        ctx.instance().deactivate_record(_CERTIFICATE, new.keystore_sys_id)
        ctx.deps.store.note(renewed, "renewal_failed", {"renewal": ctx.job.id})
        raise
    if old.keystore_sys_id != new.keystore_sys_id:
        ctx.instance().deactivate_record(_CERTIFICATE, old.keystore_sys_id)
    ctx.deps.store.note(
        renewed,
        "keystore_retired",
        {"sys_id": old.keystore_sys_id, "replaced_by": new.keystore_sys_id, "by": ctx.job.id},
    )
    return verified


def _prove_before_switch(ctx: StageContext, new: KeystoreUploaded, handshake: Handshake) -> None:
    """The new keystore, as attached on the instance, handshakes with the third party."""
    attached = ctx.instance().download_attachment(new.attachment_sys_id)
    if sha256_hex(attached) != new.keystore_sha256:
        raise VerificationFailed(
            "the renewal's keystore attached on the instance is not the one twoway built",
            check="keystore_attachment",
            hint="replay stage 'upload-keystore'",
        )
    endpoint = find_target(ctx).endpoint
    result = handshake(ctx, attached, endpoint)
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
    ctx.deps.store.note(ctx.job.renews, kind, {"renewal": ctx.job.id, **detail})
