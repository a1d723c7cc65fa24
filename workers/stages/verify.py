"""Runbook step 9: test the call. Read everything back, then handshake for real.

The configuration must hang together (keystore record active with our attachment,
profile pointing at it, the message and each method using the profile); the attached
keystore is downloaded and must be the one built; and an mTLS handshake with exactly
that keystore against the message's endpoint must succeed, trusting only the registered
server certificate. Read-only: it can be replayed when the third party is ready.

Each failure names its check: ``keystore_password`` (the instance logs that it cannot open
our keystore with the password on the record), ``configuration``, ``keystore_attachment``,
``server_certificate`` and ``client_certificate`` (the third party's answer, see
:mod:`workers.pki.tls_failures`), ``tls_handshake``, ``http_response``.
"""

from __future__ import annotations

from messages import JobVerified, KeystoreUploaded, MutualAuthEnabled, Stage, TrustRegistered
from workers.errors import VerificationFailed
from workers.machinery.context import StageContext
from workers.servicenow import ConfigurationSnapshot
from workers.stages.prove import find_target, handshake, prove_attached
from workers.stages.switch import switch_back, verify_and_switch

__all__ = ["handshake", "verify", "verify_configuration"]


def verify(msg: MutualAuthEnabled, ctx: StageContext) -> JobVerified:
    if ctx.job.renews is not None:  # prove the new keystore, switch to it, prove again
        return verify_and_switch(msg, ctx, check=verify_configuration, handshake=handshake)
    try:
        return verify_configuration(msg, ctx)
    except VerificationFailed:
        switch_back(ctx)  # what worked before stays active until this job verifies
        raise


def verify_configuration(msg: MutualAuthEnabled, ctx: StageContext) -> JobVerified:
    """Everything reads back consistently, and the attached keystore handshakes."""
    instance = ctx.instance()
    uploaded = ctx.output(Stage.UPLOAD_KEYSTORE, KeystoreUploaded)
    trusted = ctx.output(Stage.REGISTER_TRUST, TrustRegistered)
    target = find_target(ctx)
    snapshot = instance.read_configuration(
        keystore_sys_id=uploaded.keystore_sys_id,
        trust_sys_id=trusted.trust_sys_id,
        profile_sys_id=msg.profile_sys_id,
        target=target,
    )
    _keystore_opens(snapshot, uploaded.keystore_sha256)
    _hangs_together(ctx, snapshot, uploaded.keystore_sha256, trusted.trust_sha256)
    result = prove_attached(ctx, uploaded, target.endpoint)
    ctx.note(
        "handshake_succeeded",
        endpoint=target.endpoint,
        protocol=result.protocol,
        status_code=result.status_code,
    )
    return JobVerified(
        job_id=msg.job_id,
        handshake_protocol=result.protocol,
        server_sha256=result.server_sha256,
    )


def _keystore_opens(snapshot: ConfigurationSnapshot, keystore_sha256: str) -> None:
    """The record holds our keystore, yet the instance logs that it cannot load it: then
    the password set on the record is wrong (KB1217702). It is write-only, so this is the
    only way to see it."""
    hashes = [str(a.get("hash", "")) for a in snapshot.keystore_attachments]
    if not snapshot.load_errors or hashes != [keystore_sha256]:
        return  # nothing logged, or another problem that check_configuration names
    name = str((snapshot.keystore or {}).get("name", ""))
    raise VerificationFailed(
        f"the instance cannot open keystore record {name!r} ({snapshot.keystore_sys_id})"
        f" with the password set on it: {snapshot.load_errors[0]}",
        check="keystore_password",
        hint="the record's key store password no longer opens the keystore twoway built"
        " (someone changed it on the instance); replay stage 'upload-keystore', which sets"
        " it again from the sealed copy",
    )


def _hangs_together(
    ctx: StageContext, snapshot: ConfigurationSnapshot, keystore_sha256: str, trust_sha256: str
) -> None:
    """Every record as it should be; known trouble (legacy properties) noted, not failed."""
    instance = ctx.instance()
    problems = instance.check_configuration(
        snapshot, keystore_sha256=keystore_sha256, trust_sha256=trust_sha256
    )
    if problems:
        raise VerificationFailed(
            "the instance configuration does not hang together: " + "; ".join(problems),
            check="configuration",
            hint="fix the records named, or replay the stage that made them",
        )
    for warning in instance.configuration_warnings(snapshot):
        ctx.note("configuration_warning", message=warning)
