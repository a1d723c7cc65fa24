"""Runbook step 1: generate the key pair (keytool -genkeypair), kept sealed in the store."""

from __future__ import annotations

from messages import JobAccepted, KeyGenerated
from workers import pki
from workers.machinery.context import StageContext
from workers.store.artifacts import Artifact

__all__ = ["generate"]


def generate(msg: JobAccepted, ctx: StageContext) -> KeyGenerated:
    key_pem = ctx.artifact(Artifact.PRIVATE_KEY)
    if key_pem is None:
        fresh = pki.generate_private_key(ctx.request.key.type)
        key_pem = ctx.produce(Artifact.PRIVATE_KEY, fresh, secret=True)  # a racing run's key wins
    return KeyGenerated(job_id=msg.job_id, public_key_sha256=pki.public_key_sha256(key_pem))
