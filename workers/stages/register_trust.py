"""Runbook step 6: the third party's server certificate as a "Trust Store Cert" record.

Found by fingerprint, so a certificate already registered (by this job or another) is
reused; given as PEM it goes into ``pem_certificate``, given as DER it is attached.
Whether such a record existed before the job is kept (``trust_before``) for rollback.
Jobs with the same certificate on the same instance that find no record create one at
a time: two that both found none would both create, and the duplicate one of them had
already handed on would be deleted as such.
"""

from __future__ import annotations

import json

from messages import KeystoreUploaded, TrustRegistered
from workers import pki
from workers.machinery.context import StageContext
from workers.servicenow import tables
from workers.stages.import_chain import server_certificate_der
from workers.store.artifacts import Artifact

__all__ = ["register_trust"]


def register_trust(msg: KeystoreUploaded, ctx: StageContext) -> TrustRegistered:
    der = server_certificate_der(ctx)
    fingerprint = pki.sha256_fingerprint(pki.parse_certificates(der)[0])
    instance = ctx.instance()
    existing = instance.find_trust_record(der)
    if ctx.artifact(Artifact.TRUST_BEFORE) is None:  # the first run sees the instance before us
        ctx.keep(Artifact.TRUST_BEFORE, json.dumps({"sys_id": existing}).encode())
    name = f"twoway trust {ctx.request.protocol_profile.name} {fingerprint[:12]}"
    as_der = ctx.request.server_certificate.der_b64 is not None
    if existing is not None:  # registered already (by this job or another): nothing to race
        record = instance.ensure_trust_record(
            name=name, certificate_der=der, as_der_attachment=as_der
        )
    else:
        with ctx.exclusive(f"trust {fingerprint} on {ctx.request.instance}"):
            record = instance.ensure_trust_record(
                name=name, certificate_der=der, as_der_attachment=as_der
            )
    ctx.note(
        "instance_record",
        table=tables.CERTIFICATE,
        sys_id=record.sys_id,
        created=record.created,
        what="trust",
    )
    return TrustRegistered(
        job_id=msg.job_id,
        keystore_sys_id=msg.keystore_sys_id,
        trust_sys_id=record.sys_id,
        trust_sha256=record.sha256,
    )
