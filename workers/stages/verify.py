"""Runbook step 9: test the call. Read everything back, then handshake for real.

The configuration must hang together (keystore record active with our attachment,
profile pointing at it, the message and each method using the profile); the attached
keystore is downloaded and must be the one built; and an mTLS handshake with exactly
that keystore against the message's endpoint must succeed, trusting only the registered
server certificate. Read-only: it can be replayed when the third party is ready.
"""

from __future__ import annotations

from messages import JobVerified, KeystoreUploaded, MutualAuthEnabled, Stage, TrustRegistered

from .. import pki
from ..context import StageContext, sha256_hex
from ..errors import VerificationFailed
from .enable import find_target
from .import_chain import server_certificate_der

__all__ = ["verify"]


def verify(msg: MutualAuthEnabled, ctx: StageContext) -> JobVerified:
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
    problems = instance.check_configuration(
        snapshot,
        keystore_sha256=uploaded.keystore_sha256,
        trust_sha256=trusted.trust_sha256,
    )
    if problems:
        raise VerificationFailed(
            "the instance configuration does not hang together: " + "; ".join(problems),
            check="configuration",
            hint="fix the records named, or replay the stage that made them",
        )
    attached = instance.download_attachment(uploaded.attachment_sys_id)
    if sha256_hex(attached) != uploaded.keystore_sha256:
        raise VerificationFailed(
            "the keystore attached on the instance is not the one twoway built",
            check="keystore_attachment",
            hint="replay stage 'upload-keystore'",
        )
    password = ctx.secret("keystore_password", made_by=Stage.IMPORT_CHAIN).decode()
    contents = pki.open_jks(attached, password, ctx.request.keystore.alias)
    server = pki.parse_certificates(server_certificate_der(ctx))
    result = pki.mtls_request(
        target.endpoint,
        private_key_pem=contents.private_key_pem,
        chain=contents.chain,
        trust=server,
    )
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
