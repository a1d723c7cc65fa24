"""The Java Key Store record (servicenow-api.md 1.5, 6.7, 7 steps 2-4).

Created inactive; the keystore attached and its hash checked; the password set; only
then activated. An active record is deactivated before anything on it changes, because
one broken active keystore breaks unrelated features of the instance (KB1217702).
"""

from __future__ import annotations

from typing import Any

from workers.errors import ServiceNowConflict, ServiceNowRejected, VerificationFailed
from workers.servicenow._common import (
    CERTIFICATE,
    create_once,
    delete_with_attachments,
    keystore_load_errors,
    reconcile_attachments,
    sha256_hex,
    text,
    upload_checked,
)
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import ATTACHMENT_ROLE, MIME_VALIDATION, InstanceFacts
from workers.servicenow.models import KeystoreRecord

__all__ = ["activate_keystore_record", "ensure_keystore_record", "keystore_record_type"]

_FIELDS = ("sys_id", "name", "type", "active", "short_description", "sys_created_on")
_KEYSTORE_MIME = "application/octet-stream"


def ensure_keystore_record(
    client: ServiceNowClient,
    facts: InstanceFacts,
    *,
    name: str,
    marker: str,
    keystore: bytes,
    password: str,
    file_name: str = "client.jks",
    description: str = "",
    activate: bool = True,
    pkcs12: bool = False,
) -> KeystoreRecord:
    """Exactly one keystore record named ``name``, holding exactly ``keystore``; active
    unless ``activate`` is false (a renewal's record waits for its switch). ``pkcs12``:
    the record's type is the instance's "PKCS12 Key Store" choice."""
    if not marker.strip():
        raise ValueError("marker must be a non-empty job marker")
    record_type = keystore_record_type(facts, pkcs12=pkcs12)
    if not facts.extension_allowed(file_name):
        raise ServiceNowConflict(
            f"the instance does not allow attachments named {file_name!r}"
            f" (glide.attachment.extensions: {', '.join(facts.attachment_extensions)})",
            hint="add the keystore's extension (jks or p12) to glide.attachment.extensions",
        )
    sha256 = sha256_hex(keystore)
    record, created = _find_or_create(client, record_type, name, marker, description)
    sys_id = text(record["sys_id"])
    deactivate = _Deactivator(client, sys_id, active=text(record.get("active")) == "true")
    if text(record.get("type")) != record_type:
        deactivate()
        client.update(CERTIFICATE, sys_id, {"type": record_type})
    attachment = reconcile_attachments(client, CERTIFICATE, sys_id, sha256, deactivate)
    if attachment is None:
        deactivate()
        attachment = _upload(client, sys_id, file_name, keystore)
    known_errors = keystore_load_errors(client, sys_id)
    client.update(
        CERTIFICATE,
        sys_id,
        {"key_store_password": password},
        input_display_value=facts.password_encrypted,
    )
    if activate:
        _activate(client, facts, sys_id, known_errors)
    return KeystoreRecord(
        sys_id=sys_id, attachment_sys_id=attachment, sha256=sha256, created=created
    )


def _upload(client: ServiceNowClient, sys_id: str, file_name: str, keystore: bytes) -> str:
    """Attach the keystore; the platform's upload checks become a refusal naming the
    property to change (servicenow-api.md 10)."""
    try:
        return upload_checked(client, CERTIFICATE, sys_id, file_name, keystore, _KEYSTORE_MIME)
    except ServiceNowRejected as exc:
        said = f"{exc.sn_message} {exc.sn_detail}".lower()
        if "mime type" in said:
            hint = f"set {MIME_VALIDATION} to false (or take the keystore's extension off"
            hint += " glide.attachment.extensions); twoway doctor checks it"
        elif ATTACHMENT_ROLE in said or exc.status_code == 403:
            hint = f"give the integration user a role listed in {ATTACHMENT_ROLE}, or admin"
        else:
            raise
        raise ServiceNowRejected(
            f"the instance refused the keystore attachment {file_name!r}: {exc.sn_message}",
            status_code=exc.status_code,
            sn_message=exc.sn_message,
            sn_detail=exc.sn_detail,
            hint=hint,
        ) from exc


def keystore_record_type(facts: InstanceFacts, *, pkcs12: bool) -> str:
    """The stored ``type`` of a JKS or PKCS12 keystore record on this instance."""
    if not pkcs12:
        return facts.keystore_type
    if facts.pkcs12_type is None:
        raise ServiceNowConflict(
            "the instance offers no 'PKCS12 Key Store' choice for sys_certificate.type",
            hint="ask for keystore.format 'jks' (every release reads it); PKCS12 Key Store"
            " records arrived with San Diego",
        )
    return facts.pkcs12_type


def _find_or_create(
    client: ServiceNowClient, record_type: str, name: str, marker: str, description: str
) -> tuple[dict[str, Any], bool]:
    found = _find(client, name, marker)
    if found is not None:
        return found, False
    values = {
        "name": name,
        "type": record_type,
        "active": "false",  # the column defaults to true on many instances
        "short_description": _description(description, marker),
    }
    return create_once(client, CERTIFICATE, values, lambda: _find(client, name, marker)), True


def activate_keystore_record(client: ServiceNowClient, facts: InstanceFacts, sys_id: str) -> None:
    """Activate a record whose keystore and password are in place; check it loads."""
    _activate(client, facts, sys_id, keystore_load_errors(client, sys_id))


def _activate(
    client: ServiceNowClient, facts: InstanceFacts, sys_id: str, known_errors: dict[str, Any]
) -> None:
    """``active``, then check it reads back and that the instance can load it."""
    client.update(CERTIFICATE, sys_id, {"active": "true"})
    _check_stored(client, facts, sys_id)
    _check_loads(client, sys_id, known_errors)


class _Deactivator:
    """Deactivates the record once, the first time something on it is about to change."""

    def __init__(self, client: ServiceNowClient, sys_id: str, *, active: bool) -> None:
        self._client = client
        self._sys_id = sys_id
        self._active = active

    def __call__(self) -> None:
        if self._active:
            self._client.update(CERTIFICATE, self._sys_id, {"active": "false"})
            self._active = False


def _description(description: str, marker: str) -> str:
    return description if marker in description else f"{description} {marker}".strip()


def _find(client: ServiceNowClient, name: str, marker: str) -> dict[str, Any] | None:
    """Our record named ``name``; a foreign record of that name is a conflict."""
    rows = client.query(CERTIFICATE, {"name": name}, fields=_FIELDS)
    ours = [r for r in rows if marker in text(r.get("short_description"))]
    foreign = [text(r.get("sys_id")) for r in rows if r not in ours]
    if foreign:
        raise ServiceNowConflict(
            f"a certificate record named {name!r} exists that this job did not create"
            f" (sys_id {', '.join(foreign)})",
            hint="choose another keystore record name for the job",
        )
    if not ours:
        return None
    ours.sort(key=lambda r: (text(r.get("sys_created_on")), text(r.get("sys_id"))))
    for extra in ours[1:]:  # two workers raced: keep the oldest, remove the rest
        delete_with_attachments(client, CERTIFICATE, text(extra["sys_id"]))
    return ours[0]


def _check_stored(client: ServiceNowClient, facts: InstanceFacts, sys_id: str) -> None:
    stored = client.get(CERTIFICATE, sys_id, fields=_FIELDS) or {}
    kind = text(stored.get("type"))
    if text(stored.get("active")) != "true" or kind not in facts.keystore_types:
        raise VerificationFailed(
            f"keystore record {sys_id} reads back as active={text(stored.get('active'))!r}"
            f" type={text(stored.get('type'))!r} after it was set up",
            check="keystore_record",
            hint="a business rule or ACL on sys_certificate may have refused the change",
        )


def _check_loads(client: ServiceNowClient, sys_id: str, known: dict[str, Any]) -> None:
    """KB1217702: an active keystore the instance cannot load breaks unrelated features."""
    new = [r for key, r in keystore_load_errors(client, sys_id).items() if key not in known]
    if new:
        client.update(CERTIFICATE, sys_id, {"active": "false"})
        raise VerificationFailed(
            f"the instance cannot load keystore record {sys_id}, so it was deactivated again:"
            f" {text(new[0].get('message'))}",
            check="keystore_load",
            hint="the keystore and its password do not match (KB0824494: the key password"
            " must equal the store password); rebuild the keystore",
        )
