"""Read a configuration back and say what does not hang together (the ``verify`` stage)."""

from __future__ import annotations

from typing import Any

from workers.servicenow._common import (
    CERTIFICATE,
    PROFILE,
    attachment_sha256,
    keystore_load_errors,
    text,
)
from workers.servicenow._targets import mutual_columns, read_mutual_auth
from workers.servicenow._trust import pem_sha256
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import InstanceFacts, legacy_protocol_properties
from workers.servicenow.models import ConfigurationSnapshot, TargetRef

__all__ = ["check_configuration", "configuration_warnings", "read_configuration"]

_CERT_FIELDS = (
    "sys_id",
    "name",
    "type",
    "format",
    "active",
    "pem_certificate",
    "short_description",
    "subject",
    "issuer",
    "valid_from",
    "expires",
    "sys_updated_on",
)


def read_configuration(
    client: ServiceNowClient,
    facts: InstanceFacts,
    keystore_sys_id: str,
    trust_sys_id: str,
    profile_sys_id: str,
    target: TargetRef,
) -> ConfigurationSnapshot:
    """The records as the instance stores them now (never the keystore password)."""
    keystore = client.get(CERTIFICATE, keystore_sys_id, fields=_CERT_FIELDS)
    attachments: tuple[dict[str, Any], ...] = ()
    if keystore is not None:
        attachments = _hashed_attachments(client, keystore)
    profile = client.get(PROFILE, profile_sys_id, fields=("sys_id", "protocol", "keystore"))
    protocol = text((profile or {}).get("protocol"))
    trust = client.get(CERTIFICATE, trust_sys_id, fields=_CERT_FIELDS)
    return ConfigurationSnapshot(
        keystore_sys_id=keystore_sys_id,
        trust_sys_id=trust_sys_id,
        profile_sys_id=profile_sys_id,
        keystore=keystore,
        keystore_attachments=attachments,
        trust=trust,
        trust_attachments=_hashed_attachments(client, trust),
        profile=profile,
        target=target,
        mutual_auth=read_mutual_auth(client, facts, target),
        legacy_properties=legacy_protocol_properties(client, protocol) if protocol else (),
        load_errors=_load_errors(client, keystore),
    )


def _hashed_attachments(
    client: ServiceNowClient, record: dict[str, Any] | None
) -> tuple[dict[str, Any], ...]:
    """The record's attachments, each with its SHA-256 as ``hash``."""
    if record is None:
        return ()
    return tuple(
        {**meta, "hash": attachment_sha256(client, meta)}
        for meta in client.list_attachments(CERTIFICATE, text(record.get("sys_id")))
    )


def _load_errors(client: ServiceNowClient, keystore: dict[str, Any] | None) -> tuple[str, ...]:
    """The keystore's load errors in syslog since it was last changed (activated)."""
    if keystore is None:
        return ()
    since = text(keystore.get("sys_updated_on"))
    errors = keystore_load_errors(client, text(keystore.get("sys_id"))).values()
    return tuple(text(r.get("message")) for r in errors if text(r.get("sys_created_on")) >= since)


def check_configuration(
    facts: InstanceFacts,
    snapshot: ConfigurationSnapshot,
    *,
    keystore_sha256: str,
    trust_sha256: str | None = None,
    protocol: str | None = None,
) -> list[str]:
    """Every inconsistency, one sentence each; empty when all hangs together."""
    return [
        *_keystore_problems(facts, snapshot, keystore_sha256),
        *_trust_problems(facts, snapshot, trust_sha256),
        *_profile_problems(snapshot, protocol),
        *_target_problems(facts, snapshot),
    ]


def configuration_warnings(snapshot: ConfigurationSnapshot) -> list[str]:
    """What is not wrong but is known to cause trouble (legacy properties, KB0824494)."""
    return [
        f"legacy property {name} is set; KB0824494 advises backing it up and removing it"
        for name in snapshot.legacy_properties
    ]


def _keystore_problems(facts: InstanceFacts, snap: ConfigurationSnapshot, sha256: str) -> list[str]:
    record, sys_id = snap.keystore, snap.keystore_sys_id
    if record is None:
        return [f"keystore record {sys_id} does not exist"]
    problems = []
    if text(record.get("active")) != "true":
        problems.append(f"keystore record {sys_id} is inactive")
    if text(record.get("type")) not in facts.keystore_types:
        problems.append(f"keystore record {sys_id} has type {text(record.get('type'))!r}")
    hashes = [text(a.get("hash")) for a in snap.keystore_attachments]
    if sha256 not in hashes:
        problems.append(f"keystore record {sys_id} has no attachment with SHA-256 {sha256}")
    if len(hashes) > 1:
        problems.append(f"keystore record {sys_id} has {len(hashes)} attachments, not one")
    problems += [f"the instance cannot load keystore {sys_id}: {m}" for m in snap.load_errors]
    return problems


def _trust_problems(
    facts: InstanceFacts, snap: ConfigurationSnapshot, sha256: str | None
) -> list[str]:
    record, sys_id = snap.trust, snap.trust_sys_id
    if record is None:
        return [f"trust record {sys_id} does not exist"]
    problems = []
    if text(record.get("active")) != "true":
        problems.append(f"trust record {sys_id} is inactive")
    if text(record.get("type")) != facts.trust_type:
        problems.append(f"trust record {sys_id} has type {text(record.get('type'))!r}")
    pem = text(record.get("pem_certificate"))
    if sha256 and pem and pem_sha256(pem) != sha256:
        problems.append(f"trust record {sys_id} holds another certificate than {sha256}")
    attached = [text(a.get("hash")) for a in snap.trust_attachments]
    if sha256 and not pem and sha256 not in attached:
        problems.append(f"trust record {sys_id} holds no certificate with SHA-256 {sha256}")
    return problems


def _profile_problems(snap: ConfigurationSnapshot, protocol: str | None) -> list[str]:
    record, sys_id = snap.profile, snap.profile_sys_id
    if record is None:
        return [f"protocol profile {sys_id} does not exist"]
    problems = []
    if text(record.get("keystore")) != snap.keystore_sys_id:
        problems.append(
            f"protocol profile {sys_id} points at keystore {text(record.get('keystore'))!r},"
            f" not {snap.keystore_sys_id}"
        )
    if protocol is not None and text(record.get("protocol")) != protocol:
        problems.append(f"protocol profile {sys_id} is named {text(record.get('protocol'))!r}")
    return problems


def _target_problems(facts: InstanceFacts, snap: ConfigurationSnapshot) -> list[str]:
    problems = []
    by_scheme = snap.target.through_scheme(text((snap.profile or {}).get("protocol")))
    for sys_id, row in snap.mutual_auth.items():
        mutual, profile = mutual_columns(facts, snap.target, sys_id)
        where = f"{snap.target.table_of(sys_id)} {sys_id}"
        # a row on the profile through its endpoint's scheme needs neither column
        if sys_id not in by_scheme and row.get(mutual) != "true":
            problems.append(f"{where} does not use mutual authentication")
        if sys_id not in by_scheme and row.get(profile) != snap.profile_sys_id:
            problems.append(f"{where} uses protocol profile {row.get(profile)!r}")
        if row.get("use_mid_server"):
            problems.append(f"{where} runs through a MID server")
    return problems
