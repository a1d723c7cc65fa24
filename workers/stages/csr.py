"""Runbook step 2: the certificate signing request (keytool -certreq)."""

from __future__ import annotations

from messages import CsrCreated, KeyGenerated, Stage
from workers import pki
from workers.errors import PermanentError
from workers.machinery.context import StageContext, sha256_hex
from workers.store.artifacts import Artifact

__all__ = ["csr"]


def csr(msg: KeyGenerated, ctx: StageContext) -> CsrCreated:
    key_pem = ctx.secret(Artifact.PRIVATE_KEY, made_by=Stage.GENERATE)
    if pki.public_key_sha256(key_pem) != msg.public_key_sha256:
        raise PermanentError(
            "the stored key is not the one 'generate' announced",
            hint="replay stage 'generate' with --force to start the key over",
        )
    csr_pem = ctx.artifact(Artifact.CSR)
    if csr_pem is None:
        request = ctx.request
        made = pki.build_csr(key_pem, request.subject, request.dns_sans)
        csr_pem = ctx.produce(Artifact.CSR, made)
    return CsrCreated(job_id=msg.job_id, csr_sha256=sha256_hex(csr_pem))
