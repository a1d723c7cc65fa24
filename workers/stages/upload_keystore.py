"""Runbook step 5: the "Java Key Store" (or "PKCS12 Key Store") record, keystore attached,
password set.

Created inactive; active only once the attachment (checked by SHA-256) and the password
are in place: one broken active keystore breaks unrelated features on an instance. A
renewal's new record stays inactive until ``verify`` has proved it and switches to it.
"""

from __future__ import annotations

from messages import ChainImported, KeystoreFormat, KeystoreUploaded, Stage
from workers import pki
from workers.errors import PermanentError
from workers.machinery.context import StageContext, sha256_hex
from workers.servicenow import tables
from workers.store.artifacts import Artifact

__all__ = ["job_marker", "upload_keystore"]


def job_marker(job_id: str) -> str:
    return f"twoway job {job_id}"


def upload_keystore(msg: ChainImported, ctx: StageContext) -> KeystoreUploaded:
    keystore = ctx.secret(Artifact.KEYSTORE, made_by=Stage.IMPORT_CHAIN)
    if sha256_hex(keystore) != msg.keystore_sha256:
        raise PermanentError(
            "the stored keystore is not the one 'import-chain' announced",
            hint="replay stage 'import-chain'",
        )
    password = ctx.secret(Artifact.KEYSTORE_PASSWORD, made_by=Stage.IMPORT_CHAIN).decode()
    spec = ctx.request.keystore
    record = ctx.instance().ensure_keystore_record(
        name=spec.record_name,
        marker=job_marker(msg.job_id),
        keystore=keystore,
        password=password,
        file_name=f"{spec.alias}.{pki.file_extension(spec.format)}",
        description=f"client certificate for {ctx.request.target.name}",
        activate=ctx.job.renews is None,  # a renewal's record waits, inactive, for its switch
        pkcs12=spec.format is KeystoreFormat.PKCS12,
    )
    ctx.note(
        "instance_record",
        table=tables.CERTIFICATE,
        sys_id=record.sys_id,
        created=record.created,
        what="keystore",
    )
    return KeystoreUploaded(
        job_id=msg.job_id,
        keystore_sys_id=record.sys_id,
        attachment_sys_id=record.attachment_sys_id,
        keystore_sha256=record.sha256,
    )
