"""The protocol profile (servicenow-api.md 3, 7 step 6)."""

from __future__ import annotations

import re
from typing import Any

from workers.errors import RequestInvalid, ServiceNowConflict
from workers.servicenow._common import CERTIFICATE, PROFILE, create_once, ignore_missing, text
from workers.servicenow._lookups import profile_users
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import InstanceFacts
from workers.servicenow.models import ProfileRecord

__all__ = ["ensure_protocol_profile", "validate_protocol"]

_PROTOCOL = re.compile(r"^[a-z0-9]+$")
_RESERVED = frozenset({"http", "https"})
_FIELDS = ("sys_id", "protocol", "default_port", "keystore", "sys_created_on")


def validate_protocol(protocol: str, port: int) -> None:
    """ServiceNow's documented rules, checked before any call (the instance may not)."""
    if not _PROTOCOL.fullmatch(protocol):
        raise RequestInvalid(
            f"protocol name {protocol!r} must be lower-case letters and digits only:"
            " it becomes a URL scheme"
        )
    if protocol in _RESERVED:
        raise RequestInvalid(f"protocol name {protocol!r} is an existing protocol; choose another")
    if not 1 <= port <= 65535:
        raise RequestInvalid(f"port {port} is not between 1 and 65535")


def ensure_protocol_profile(
    client: ServiceNowClient,
    facts: InstanceFacts,
    *,
    protocol: str,
    port: int,
    keystore_sys_id: str,
    rotate: bool = False,
) -> ProfileRecord:
    """Exactly one profile named ``protocol`` pointing at the keystore record."""
    validate_protocol(protocol, port)
    _check_keystore(client, facts, keystore_sys_id)
    found = _find(client, facts, protocol)
    if found is None:
        values = {"protocol": protocol, "default_port": str(port), "keystore": keystore_sys_id}
        created = create_once(client, PROFILE, values, lambda: _find(client, facts, protocol))
        return ProfileRecord(sys_id=text(created["sys_id"]), created=True)
    sys_id, current = text(found["sys_id"]), text(found.get("keystore"))
    changes: dict[str, str] = {}
    if text(found.get("default_port")) != str(port):
        changes["default_port"] = str(port)
    if current != keystore_sys_id:
        if not rotate:
            raise ServiceNowConflict(
                f"protocol profile {protocol!r} uses another keystore record ({current or 'none'})",
                hint="choose another protocol name, or submit the job with rotate to move the"
                " profile (and every message using it) to the new keystore",
            )
        changes["keystore"] = keystore_sys_id
    if changes:
        client.update(PROFILE, sys_id, changes)
    previous = current if current != keystore_sys_id else None
    return ProfileRecord(sys_id=sys_id, created=False, previous_keystore=previous)


def _find(client: ServiceNowClient, facts: InstanceFacts, protocol: str) -> dict[str, Any] | None:
    rows = client.query(PROFILE, {"protocol": protocol}, fields=_FIELDS)
    if len(rows) <= 1:
        return rows[0] if rows else None
    # A create that timed out may land after the retry created it again. Keep the one in
    # use (else the oldest); identical unused duplicates go, anything else is a conflict.
    used = {text(r["sys_id"]) for r in rows if _referenced(client, facts, text(r["sys_id"]))}
    rows.sort(key=lambda r: (text(r["sys_id"]) not in used, text(r.get("sys_created_on"))))
    keep, extras = rows[0], rows[1:]
    same = all(text(r.get("keystore")) == text(keep.get("keystore")) for r in extras)
    if not same or any(text(r["sys_id"]) in used for r in extras):
        raise ServiceNowConflict(
            f"{len(rows)} protocol profiles are named {protocol!r}; the name must be unique",
            hint="delete the duplicates in System Security > Protocol Profiles",
        )
    for extra in extras:
        ignore_missing(lambda s: client.delete(PROFILE, s), text(extra["sys_id"]))
    return keep


def _referenced(client: ServiceNowClient, facts: InstanceFacts, sys_id: str) -> bool:
    return bool(profile_users(client, facts, sys_id))


def _check_keystore(client: ServiceNowClient, facts: InstanceFacts, sys_id: str) -> None:
    row = client.get(CERTIFICATE, sys_id, fields=("sys_id", "type", "active"))
    if row is None or text(row.get("type")) not in facts.keystore_types:
        raise ServiceNowConflict(
            f"certificate record {sys_id} is missing or not a Java/PKCS12 Key Store",
            hint="a protocol profile's keystore must be a keystore record (run upload-keystore)",
        )
