"""Proving a keystore before a message is switched to it: runbook step 9's test, made
before step 8's switch (DESIGN: never break a working integration).

The keystore as attached on the instance (its hash checked against the one built) makes
a real mTLS handshake with the message's endpoint, trusting only the registered server
certificate. ``enable`` proves first jobs this way, a renewal's ``verify`` proves its new
keystore, and the poller re-probes a job that waits for the third party with the copy
sealed in the store (no call to the instance while it waits).
"""

from __future__ import annotations

from collections.abc import Callable

from messages import KeystoreUploaded, Stage
from workers import pki
from workers.errors import PermanentError, VerificationFailed
from workers.machinery.context import StageContext, sha256_hex
from workers.servicenow import TargetRef
from workers.servicenow.schemes import called_url
from workers.stages.import_chain import server_certificate_der
from workers.store.artifacts import Artifact

__all__ = [
    "call_url",
    "find_target",
    "handshake",
    "partner_refused",
    "prove_attached",
    "prove_stored",
]


def find_target(ctx: StageContext) -> TargetRef:
    target = ctx.request.target
    found = ctx.instance().find_target(target.kind.value, target.name)
    if found is None:
        raise PermanentError(
            f"no {target.kind.value.upper()} message named {target.name!r} on the instance",
            hint="check target.name, or whether an ACL hides the message from the integration user",
        )
    return found


def handshake(ctx: StageContext, keystore: bytes, endpoint: str) -> pki.HandshakeResult:
    """mTLS with exactly ``keystore``, trusting only the registered server certificate."""
    password = ctx.secret(Artifact.KEYSTORE_PASSWORD, made_by=Stage.IMPORT_CHAIN).decode()
    spec = ctx.request.keystore
    contents = pki.open_keystore(spec.format, keystore, password, spec.alias)
    return pki.mtls_request(
        call_url(ctx, endpoint),
        private_key_pem=contents.private_key_pem,
        chain=contents.chain,
        trust=pki.parse_certificates(server_certificate_der(ctx)),
    )


def call_url(ctx: StageContext, endpoint: str) -> str:
    """The URL the instance calls for ``endpoint``: ``<profile>://host/path`` is https to
    host, on its port or the profile's (workers/servicenow/schemes.py)."""
    spec = ctx.request.protocol_profile
    return called_url(endpoint, spec.name, spec.port)


def prove_attached(
    ctx: StageContext,
    uploaded: KeystoreUploaded,
    endpoint: str,
    *,
    handshake: Callable[[StageContext, bytes, str], pki.HandshakeResult] = handshake,
) -> pki.HandshakeResult:
    """The keystore attached on the instance is ours, and it handshakes with ``endpoint``."""
    attached = ctx.instance().download_attachment(uploaded.attachment_sys_id)
    if sha256_hex(attached) != uploaded.keystore_sha256:
        raise VerificationFailed(
            "the keystore attached on the instance is not the one twoway built",
            check="keystore_attachment",
            hint="replay stage 'upload-keystore'",
        )
    return handshake(ctx, attached, endpoint)


def prove_stored(ctx: StageContext, endpoint: str) -> pki.HandshakeResult:
    """The keystore twoway built (sealed in the store) handshakes with ``endpoint``."""
    return handshake(ctx, ctx.secret(Artifact.KEYSTORE, made_by=Stage.IMPORT_CHAIN), endpoint)


def partner_refused(exc: VerificationFailed) -> bool:
    """The third party answered, and its answer is that it does not accept our client
    certificate yet (a refusing TLS alert, or an HTTP answer saying so)."""
    return exc.check == "client_certificate"
