"""Pieces the instance operations share: table names, create-once, attachment checks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from workers.errors import ServiceNowRejected, TransientError, VerificationFailed
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.tables import CERTIFICATE, PROFILE

__all__ = [
    "CERTIFICATE",
    "LOAD_ERROR",
    "PROFILE",
    "attachment_sha256",
    "create_once",
    "delete_with_attachments",
    "ignore_missing",
    "keystore_load_errors",
    "reconcile_attachments",
    "sha256_hex",
    "text",
    "upload_checked",
]

LOAD_ERROR = "Unable to load certificate"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text(value: Any) -> str:
    """A stored value as the string the Table API uses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return text(value.get("value", ""))
    return "" if value is None else str(value)


def create_once(
    client: ServiceNowClient,
    table: str,
    values: dict[str, str],
    find: Callable[[], dict[str, Any] | None],
) -> dict[str, Any]:
    """POST a record; if the answer is lost, look again before anyone tries again.

    The caller has already looked and found nothing. A transient failure may have hidden
    a write that happened: when ``find`` now sees the record, that is the answer; else
    the failure is raised and the pipeline's retry looks (and creates) again. A 403 may
    be a uniqueness rule refusing our own earlier write that landed late: look again too.
    """
    try:
        return client.create(table, values)
    except (TransientError, ServiceNowRejected) as exc:
        if isinstance(exc, ServiceNowRejected) and exc.status_code != 403:
            raise
        found = find()
        if found is not None:
            return found
        raise


def ignore_missing(action: Callable[[str], object], sys_id: str) -> None:
    """``action(sys_id)``; a 404 means it is already done (deletes are idempotent)."""
    try:
        action(sys_id)
    except ServiceNowRejected as exc:
        if exc.status_code != 404:
            raise


def keystore_load_errors(client: ServiceNowClient, sys_id: str) -> dict[str, dict[str, Any]]:
    """syslog rows "Unable to load certificate : <name> - <sys_id> ..." (KB1217702), by id."""
    rows = client.query(
        "syslog",
        encoded=f"messageLIKE{sys_id}^ORDERBYDESCsys_created_on",
        fields=("sys_id", "message", "sys_created_on"),
        limit=50,
    )
    return {text(r.get("sys_id")): r for r in rows if LOAD_ERROR in text(r.get("message"))}


def delete_with_attachments(client: ServiceNowClient, table: str, sys_id: str) -> None:
    """Delete a record and, first, its attachments (a keystore holds a private key)."""
    try:
        metas = client.list_attachments(table, sys_id)
    except ServiceNowRejected as exc:
        if exc.status_code != 404:
            raise
        metas = []
    for meta in metas:
        ignore_missing(client.delete_attachment, text(meta.get("sys_id")))
    ignore_missing(lambda s: client.delete(table, s), sys_id)


def attachment_sha256(client: ServiceNowClient, meta: dict[str, Any]) -> str:
    """An attachment's SHA-256: its ``hash`` as listed, from sys_attachment, or computed."""
    listed = text(meta.get("hash")).strip().lower()
    if listed:
        return listed
    sys_id = text(meta.get("sys_id"))
    stored = client.attachment_hash(sys_id)
    # encrypted attachments carry no hash (servicenow-api.md 2.5): compare the content
    return stored if stored is not None else sha256_hex(client.download_attachment(sys_id))


def reconcile_attachments(
    client: ServiceNowClient,
    table: str,
    record_id: str,
    sha256: str,
    before_change: Callable[[], None],
) -> str | None:
    """Keep the oldest attachment with ``sha256``; delete every other one. Its sys_id."""
    metas = sorted(
        client.list_attachments(table, record_id),
        key=lambda m: (text(m.get("sys_created_on")), text(m.get("sys_id"))),
    )
    keep: str | None = None
    drop: list[str] = []
    for meta in metas:
        if keep is None and attachment_sha256(client, meta) == sha256:
            keep = text(meta["sys_id"])
        else:
            drop.append(text(meta["sys_id"]))
    if drop:
        before_change()
        for sys_id in drop:
            ignore_missing(client.delete_attachment, sys_id)
    return keep


def upload_checked(
    client: ServiceNowClient,
    table: str,
    record_id: str,
    file_name: str,
    data: bytes,
    content_type: str,
) -> str:
    """Attach ``data`` once (looking again after a lost answer) and check its stored hash."""
    sha256 = sha256_hex(data)

    def nothing() -> None:
        return None

    try:
        meta = client.upload_attachment(table, record_id, file_name, data, content_type)
    except TransientError:
        found = reconcile_attachments(client, table, record_id, sha256, nothing)
        if found is None:
            raise
        return found
    sys_id = text(meta.get("sys_id"))
    size = text(meta.get("size_bytes"))
    # the upload's own answer carries the hash on a real instance (2.5); its `state` may
    # read "pending", which is not a failure: the bytes are stored, their hash is final
    stored = attachment_sha256(client, meta)
    if stored != sha256 or (size and size != str(len(data))):
        ignore_missing(client.delete_attachment, sys_id)
        raise VerificationFailed(
            f"the attachment stored on {table} {record_id} differs from what was sent"
            f" (SHA-256 {stored[:12]}..., expected {sha256[:12]}...); it was deleted",
            check="attachment_hash",
            hint="something between twoway and the instance alters uploads; check proxies",
        )
    return sys_id
