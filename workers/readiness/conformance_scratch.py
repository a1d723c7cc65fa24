"""The conformance kit's writes (``--scratch``), for a development instance only: one
inactive keystore record, its password and an attachment, a protocol profile pointing at
it, each named ``twoway-conformance-<id>`` (``twowayconf<id>`` for the protocol), read
back, then deleted. Whatever happens (an error, Ctrl-C), the ``finally`` deletes them;
and every run first sweeps what an earlier, killed run left behind."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from workers.readiness.conformance_wire import _check, metadata_checks
from workers.readiness.doctor_model import Check
from workers.servicenow import Instance, InstanceFacts, ServiceNowClient

__all__ = ["NAME_PREFIX", "PROTOCOL_PREFIX", "scratch_checks", "sweep"]

NAME_PREFIX = "twoway-conformance-"
PROTOCOL_PREFIX = "twowayconf"
_CERTS, _PROFILES = "sys_certificate", "sys_protocol_profile"
_PASSWORD = "twoway-conformance-not-a-secret"  # noqa: S105 - a throwaway, on an inactive record


def text(value: object) -> str:
    """A stored value as a string (a reference may come as {"value": ...})."""
    if isinstance(value, dict):
        return text(value.get("value", ""))
    return "" if value is None else str(value)


def sweep(instance: Instance) -> int:
    """Delete every record an earlier run left; how many there were."""
    client = instance.client
    profiles = client.query(_PROFILES, encoded=f"protocolSTARTSWITH{PROTOCOL_PREFIX}")
    certs = client.query(_CERTS, encoded=f"nameSTARTSWITH{NAME_PREFIX}", fields=("sys_id", "name"))
    for row in profiles:
        if text(row.get("protocol")).startswith(PROTOCOL_PREFIX):
            instance.delete_record(_PROFILES, text(row["sys_id"]))
    for row in certs:
        if text(row.get("name")).startswith(NAME_PREFIX):
            instance.delete_record(_CERTS, text(row["sys_id"]))
    return len(profiles) + len(certs)


def scratch_checks(
    client: ServiceNowClient,
    facts: InstanceFacts,
    *,
    after_create: Callable[[], None] = lambda: None,
) -> list[Check]:
    """Write, read back, delete; ``after_create`` runs once the records exist (tests use it
    to interrupt the run there)."""
    instance = Instance(client, facts)
    swept = sweep(instance)
    checks = [_check("left-overs of earlier runs swept", True, f"{swept} deleted", "", "scratch")]
    run = secrets.token_hex(4)
    cert_id = profile_id = ""
    try:
        cert = client.create(
            _CERTS, {"name": NAME_PREFIX + run, "type": facts.keystore_type, "active": "false"}
        )
        cert_id = text(cert["sys_id"])
        checks += _password(client, facts, cert_id)
        data = secrets.token_bytes(64)
        meta = client.upload_attachment(
            _CERTS, cert_id, f"{NAME_PREFIX}{run}.txt", data, "text/plain"
        )
        checks += metadata_checks(meta, "uploaded", hashlib.sha256(data).hexdigest())
        profile = client.create(_PROFILES, {"protocol": PROTOCOL_PREFIX + run, "keystore": cert_id})
        profile_id = text(profile["sys_id"])
        after_create()
        back = client.get(_PROFILES, profile_id, fields=("keystore",)) or {}
        checks.append(
            _check(
                "protocol profile keystore reference",
                text(back.get("keystore")) == cert_id,
                f"{text(back.get('keystore'))[:12]}...",
                "3: keystore is a reference to sys_certificate",
                "scratch",
            )
        )
    finally:
        if profile_id:
            instance.delete_record(_PROFILES, profile_id)
        if cert_id:
            instance.delete_record(_CERTS, cert_id)
    return checks


def _password(client: ServiceNowClient, facts: InstanceFacts, cert_id: str) -> list[Check]:
    """key_store_password: written as twoway writes it; never read back in clear text."""
    client.update(
        _CERTS,
        cert_id,
        {"key_store_password": _PASSWORD},
        input_display_value=facts.password_encrypted,
    )
    row = client.get(_CERTS, cert_id, fields=("key_store_password",)) or {}
    shown = text(row.get("key_store_password"))
    return [
        _check(
            "key_store_password write-only",
            shown != _PASSWORD,
            "not readable" if shown != _PASSWORD else "read back in clear text",
            "1.4: a Password2 field is never answered in clear text",
            "scratch",
        )
    ]
