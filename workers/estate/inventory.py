"""``discover``: the read-only inventory of an instance's mutual-TLS estate."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from workers.config import PipelineConfig
from workers.config.estate import EstateSettings
from workers.estate.certificates import from_attachment, from_derived, from_pem, load_pem
from workers.estate.findings import find_all
from workers.estate.model import (
    CertificateFacts,
    CertificateRecord,
    EstateReport,
    MessageRecord,
    ProfileRecord,
)
from workers.estate.partners import probe_partners
from workers.estate.records import RawEstate, read_estate
from workers.machinery.deps import InstanceRegistry
from workers.readiness.platform_problems import platform_problems
from workers.servicenow.auth import CallRecord
from workers.servicenow.facts import InstanceFacts, discover
from workers.servicenow.schemes import custom_scheme, https_url

__all__ = ["discover_estate"]


def _t(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value", ""))
    return "" if value is None else str(value)


class _Counter:
    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, record: CallRecord) -> None:
        with self._lock:
            self.calls += 1


def _kind(type_value: str, facts: InstanceFacts) -> str:
    if type_value == facts.keystore_type:
        return "keystore"
    if facts.pkcs12_type and type_value == facts.pkcs12_type:
        return "pkcs12"
    return "trust" if type_value == facts.trust_type else "other"


def _facts_of(row: dict[str, Any], kind: str, raw: RawEstate) -> CertificateFacts:
    sys_id = _t(row["sys_id"])
    if kind in ("keystore", "pkcs12") and sys_id in raw.downloads:
        read = from_attachment(raw.downloads[sys_id], pkcs12_type=kind == "pkcs12")
        if read is not None:
            return read
    if _t(row.get("pem_certificate")):
        read = from_pem(_t(row["pem_certificate"]))
        if read is not None:
            return read
    if kind == "trust" and sys_id in raw.downloads:  # a DER attached to a trust record
        read = from_attachment(raw.downloads[sys_id], pkcs12_type=False)
        if read is not None:
            return read
    return from_derived({k: _t(v) for k, v in row.items()})


def _sha256(raw: RawEstate, sys_id: str, attachment: dict[str, Any] | None) -> str | None:
    if sys_id in raw.downloads:
        return hashlib.sha256(raw.downloads[sys_id]).hexdigest()
    return _t(attachment.get("hash")).lower() or None if attachment else None


def _certificates(raw: RawEstate, facts: InstanceFacts) -> list[CertificateRecord]:
    using: dict[str, list[str]] = {}
    for profile in raw.profiles:
        using.setdefault(_t(profile.get("keystore")), []).append(_t(profile.get("protocol")))
    out = []
    for row in raw.certificates:
        sys_id, kind = _t(row["sys_id"]), _kind(_t(row.get("type")), facts)
        attachment = raw.attachments.get(sys_id)
        out.append(
            CertificateRecord(
                sys_id=sys_id,
                name=_t(row.get("name")),
                kind=kind,
                type=_t(row.get("type")),
                active=_t(row.get("active")) == "true",
                attachment=_t(attachment["sys_id"]) if attachment else None,
                attachment_sha256=_sha256(raw, sys_id, attachment),
                certificate=_facts_of(row, kind, raw),
                profiles=sorted(using.get(sys_id, [])),
            )
        )
    return sorted(out, key=lambda c: (c.kind, c.name))


def _via(
    endpoints: list[str], ticked: bool, profile: str, by_scheme: dict[str, str]
) -> dict[str, Any]:
    """How a message reaches its profile: the checkbox's profile, else the one its
    endpoint's scheme names (None when the scheme names none)."""
    scheme = next((s for s in map(custom_scheme, endpoints) if s), None)
    if ticked:
        return {"via": "checkbox", "scheme": scheme, "profile": profile or None}
    return {"via": "scheme", "scheme": scheme, "profile": by_scheme.get(scheme or "")}


def _messages(
    raw: RawEstate, facts: InstanceFacts, protocols: dict[str, str]
) -> list[MessageRecord]:
    by_scheme = {protocol.strip().lower(): sys_id for sys_id, protocol in protocols.items()}
    out: list[MessageRecord] = []
    for message in raw.rest_messages:
        sys_id = _t(message["sys_id"])
        methods = [m for m in raw.rest_methods if _t(m.get("rest_message")) == sys_id]
        ticked = [m for m in (message, *methods) if _t(m.get("use_mutual_auth")) == "true"]
        profile = next(
            (_t(m.get("protocol_name")) for m in ticked if _t(m.get("protocol_name"))), ""
        )
        endpoints = [_t(m.get("rest_endpoint")) for m in (message, *methods)]
        via = _via(endpoints, bool(ticked), profile, by_scheme)
        out.append(
            MessageRecord(
                kind="rest",
                sys_id=sys_id,
                name=_t(message.get("name")),
                endpoint=next((e for e in endpoints if e), ""),
                protocol=protocols.get(via["profile"] or ""),
                on_mutual_auth=_t(message.get("use_mutual_auth")) == "true",
                methods=sorted(_t(m.get("function_name")) for m in methods),
                **via,
            )
        )
    parent, columns = facts.soap_function_parent_column or "", facts.soap_function_columns
    for message in raw.soap_messages:
        sys_id = _t(message["sys_id"])
        functions = [f for f in raw.soap_functions if _t(f.get(parent)) == sys_id]
        on = [f for f in functions if columns and _t(f.get(columns[0])) == "true"]
        checked = _t(message.get(facts.soap_mutual_auth_column or "")) == "true"
        profile = _t(message.get(facts.soap_profile_column or "")) if checked else ""
        profile = profile or next((_t(f.get(columns[1])) for f in on if _t(f.get(columns[1]))), "")
        endpoints = [_t(f.get("soap_endpoint")) for f in functions]
        via = _via(endpoints, checked or bool(on), profile, by_scheme)
        schemed = [f for f in functions if custom_scheme(_t(f.get("soap_endpoint")))]
        out.append(
            MessageRecord(
                kind="soap",
                sys_id=sys_id,
                name=_t(message.get("name")),
                endpoint=next((e for e in endpoints if e), ""),
                protocol=protocols.get(via["profile"] or ""),
                on_mutual_auth=checked,
                methods=sorted({_t(f.get("function_name")) for f in (*on, *schemed)}),
                **via,
            )
        )
    return sorted(out, key=lambda m: (m.kind, m.name))


def _profiles(
    raw: RawEstate, certificates: list[CertificateRecord], messages: list[MessageRecord]
) -> list[ProfileRecord]:
    records = {c.sys_id: c for c in certificates}
    out = []
    for row in raw.profiles:
        sys_id, keystore = _t(row["sys_id"]), _t(row.get("keystore"))
        record = records.get(keystore)
        state = (
            "none"
            if not keystore
            else "missing"
            if record is None
            else "not_a_keystore"
            if record.kind not in ("keystore", "pkcs12")
            else "active"
            if record.active
            else "inactive"
        )
        out.append(
            ProfileRecord(
                sys_id=sys_id,
                protocol=_t(row.get("protocol")),
                port=_t(row.get("default_port")),
                keystore=keystore or None,
                keystore_state=state,
                used_by=sorted(f"{m.kind}:{m.name}" for m in messages if m.profile == sys_id),
            )
        )
    return sorted(out, key=lambda p: p.protocol)


def discover_estate(
    name: str,
    config: PipelineConfig,
    instances: InstanceRegistry,
    *,
    settings: EstateSettings | None = None,
    probe: bool | None = None,
) -> EstateReport:
    """Read everything mutual TLS on instance ``name``; write nothing. Calls run within the
    instance's ``max_concurrent_calls`` (its call slots), each on a client of its own."""
    settings = settings or config.estate
    profile = config.instance(name)
    counter = _Counter()
    with instances.new_client(name, counter) as client:
        facts = discover(client)
        raw = read_estate(
            facts,
            lambda: instances.new_client(name, counter),
            threads=profile.max_concurrent_calls,
        )
    certificates = _certificates(raw, facts)
    protocols = {_t(p["sys_id"]): _t(p.get("protocol")) for p in raw.profiles}
    messages = _messages(raw, facts, protocols)
    profiles = _profiles(raw, certificates, messages)
    trusts: dict[str, x509.Certificate] = {}
    for record in certificates:
        cert = load_pem(record.certificate.pem or "") if record.kind == "trust" else None
        if cert is not None:
            trusts[record.sys_id] = cert
    probing = settings.probe_partners if probe is None else probe
    endpoints = [m.endpoint for m in messages if m.endpoint]
    ports = {p.sys_id: p.port for p in profiles}
    calls = {m.endpoint: https_url(m.endpoint, ports.get(m.profile or "")) for m in messages}
    partners = (
        probe_partners(endpoints, profile.fetch_hosts, trusts, calls=calls) if probing else []
    )
    legacy = list(facts.legacy_protocol_properties)
    platform = platform_problems(instances.new_client(name, counter))
    return EstateReport(
        instance=name,
        url=profile.url,
        discovered_at=datetime.now(UTC).isoformat(),
        calls=counter.calls,
        certificates=certificates,
        profiles=profiles,
        messages=messages,
        legacy_properties=legacy,
        partners=partners,
        findings=find_all(certificates, profiles, messages, partners, platform, settings),
    )
