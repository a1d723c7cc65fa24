"""The findings rules, one function per kind of record; each finding says what to do."""

from __future__ import annotations

from collections.abc import Iterable

from workers.estate.model import (
    CertificateRecord,
    Finding,
    MessageRecord,
    PartnerProbe,
    ProfileRecord,
    Severity,
)
from workers.estate.settings import EstateSettings

__all__ = ["SEVERITIES", "find_all", "is_public_ca"]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "warning", "info")
_ADOPT = "adopt it (twoway adopt) and migrate it to a private CA profile (twoway migrate --ca)"


def _f(
    code: str, severity: Severity, record: str, sys_id: str | None, message: str, fix: str
) -> Finding:
    return Finding(
        code=code, severity=severity, record=record, sys_id=sys_id, message=message, fix=fix
    )


def is_public_ca(record: CertificateRecord, settings: EstateSettings) -> str | None:
    """Why the record's certificate looks issued by a public CA, or None."""
    facts = record.certificate
    issuer = facts.issuer.casefold()
    for name in settings.public_names():
        if name.casefold() in issuer:
            return f"issued by {facts.issuer} (a public CA: {name})"
    ekus = facts.ekus or []
    if "serverAuth" in ekus and "clientAuth" in ekus:
        return "it carries serverAuth and clientAuth, as public TLS certificates did"
    return None


def _expiry(what: str, record: CertificateRecord, settings: EstateSettings) -> list[Finding]:
    days = record.certificate.days_left
    if days is None:
        return []
    label = f"{what} {record.name!r}"
    if days < 0:
        return [
            _f(
                "expired",
                "critical",
                label,
                record.sys_id,
                f"expired {-days:g} days ago ({record.certificate.not_after})",
                "renew it now: adopt it and let twoway renew it, or remove it if unused",
            )
        ]
    if days <= settings.expiring_days:
        severity: Severity = "critical" if days <= settings.critical_days else "warning"
        return [
            _f(
                "expiring",
                severity,
                label,
                record.sys_id,
                f"expires in {days:g} days ({record.certificate.not_after})",
                "adopt it so that twoway renews it before it expires",
            )
        ]
    return []


def _keystore(record: CertificateRecord, settings: EstateSettings) -> list[Finding]:
    label, facts = f"keystore {record.name!r}", record.certificate
    out = _expiry("keystore", record, settings)
    if facts.source in ("none", "derived"):
        out.append(
            _f(
                "certificate_details_unknown",
                "info",
                label,
                record.sys_id,
                "the keystore's certificate cannot be read without its password"
                + (
                    " (the instance derived subject and dates)" if facts.source == "derived" else ""
                ),
                'adoption needs the certificate: submit a job with "rotate": true for the'
                " profile that uses it, which replaces it with a keystore twoway manages",
            )
        )
    out += _client_certificate(record, settings)
    if not record.profiles:
        out.append(
            _f(
                "orphaned_keystore",
                "info",
                label,
                record.sys_id,
                "no protocol profile uses this keystore"
                + (
                    " (and it is active: every active keystore is loaded, KB1217702)"
                    if record.active
                    else ""
                ),
                "deactivate or delete it once nothing needs it",
            )
        )
    return out


def _client_certificate(record: CertificateRecord, settings: EstateSettings) -> list[Finding]:
    """What makes a client certificate unrenewable where it came from, or refused."""
    label, facts, out = f"keystore {record.name!r}", record.certificate, []
    public = is_public_ca(record, settings)
    if public:
        out.append(
            _f(
                "public_ca_client_certificate",
                "high",
                label,
                record.sys_id,
                f"client certificate from a public CA: {public}; public CAs no longer issue"
                " clientAuth (2026), so it cannot be renewed there",
                _ADOPT + "; the partner must trust that CA before the switch",
            )
        )
    if facts.ekus and "clientAuth" not in facts.ekus:
        out.append(
            _f(
                "missing_client_auth",
                "high",
                label,
                record.sys_id,
                f"the certificate's extended key usage ({', '.join(facts.ekus)}) lacks clientAuth",
                "partners that check the usage refuse it: " + _ADOPT,
            )
        )
    if facts.key_type == "rsa" and (facts.key_size or 0) > 2048:
        out.append(
            _f(
                "rsa_above_2048",
                "warning",
                label,
                record.sys_id,
                f"RSA {facts.key_size} bits: the instance's documentation states 2048 bits at most",
                "renew it with an rsa2048 or EC key (adopt, then renew or migrate)",
            )
        )
    return out


def _trust(
    record: CertificateRecord, partners: list[PartnerProbe], settings: EstateSettings
) -> list[Finding]:
    label, facts = f"trust cert {record.name!r}", record.certificate
    out = _expiry("trust cert", record, settings)
    if facts.is_ca is False:
        out.append(
            _f(
                "trust_pins_partner_leaf",
                "warning",
                label,
                record.sys_id,
                f"it is a server's own certificate ({facts.subject}), not a CA: it breaks at the"
                " partner's next rotation (at most 200 days from 2026-03-15, 47 days from 2029)",
                f"register the partner's issuing CA ({facts.issuer}) as the Trust Store Cert",
            )
        )
    probed = [p for p in partners if p.probed]
    if (
        probed
        and len(probed) == len(partners)
        and all(record.sys_id not in p.trusted_by for p in probed)
    ):
        out.append(
            _f(
                "orphaned_trust_cert",
                "info",
                label,
                record.sys_id,
                "it anchors none of the endpoints the messages on mutual auth call",
                "check whether another integration needs it; deactivate it if none does",
            )
        )
    return out


def _profile(profile: ProfileRecord, keystores: dict[str, CertificateRecord]) -> list[Finding]:
    label = f"profile {profile.protocol!r}"
    out: list[Finding] = []
    state = profile.keystore_state
    if state in ("missing", "none", "not_a_keystore"):
        what = {"missing": "is gone", "none": "is not set", "not_a_keystore": "is not a keystore"}
        out.append(
            _f(
                "profile_keystore_missing",
                "critical",
                label,
                profile.sys_id,
                f"its keystore {what[state]}: calls through it send no client certificate",
                'submit a job for its message naming this profile with "rotate": true (a'
                " new keystore, proven, then the profile re-pointed), or point the profile at"
                " a working keystore",
            )
        )
    elif state == "inactive":
        out.append(
            _f(
                "profile_keystore_inactive",
                "high",
                label,
                profile.sys_id,
                "its keystore record is inactive",
                "activate a keystore that loads, or adopt and renew the integration",
            )
        )
    keystore = keystores.get(profile.keystore or "")
    if keystore and (keystore.certificate.days_left or 0) < 0:
        out.append(
            _f(
                "profile_keystore_expired",
                "critical",
                label,
                profile.sys_id,
                f"its keystore {keystore.name!r} holds an expired certificate",
                "adopt the integration and renew it now",
            )
        )
    if not profile.used_by:
        out.append(
            _f(
                "orphaned_profile",
                "info",
                label,
                profile.sys_id,
                "no REST or SOAP message on mutual auth uses this profile",
                "delete it once nothing needs it (check mauth:// endpoints first)",
            )
        )
    return out


def _message(message: MessageRecord, profiles: dict[str, ProfileRecord]) -> list[Finding]:
    label = f"{message.kind} {message.name!r}"
    profile = profiles.get(message.profile or "")
    if profile is None:
        return [
            _f(
                "message_profile_missing",
                "critical",
                label,
                message.sys_id,
                "it is on mutual auth with a protocol profile that does not exist",
                "submit a job for it (twoway submit), which creates the profile and keystore",
            )
        ]
    if profile.keystore_state in ("missing", "none", "not_a_keystore"):
        return [
            _f(
                "message_keystore_missing",
                "critical",
                label,
                message.sys_id,
                f"its profile {profile.protocol!r} points at a keystore that is gone",
                f"submit a job for it with protocol_profile.name {profile.protocol!r} and"
                ' "rotate": true: its keystore is made and proven before the profile is'
                " re-pointed",
            )
        ]
    return []


def _partner(probe: PartnerProbe, settings: EstateSettings) -> list[Finding]:
    if not probe.probed or probe.presented is None:
        return []
    label, out = f"partner {probe.endpoint}", []
    if not probe.trusted_by:
        out.append(
            _f(
                "partner_not_trusted",
                "critical",
                label,
                None,
                f"the server certificate it presents ({probe.presented.subject}, issued by"
                f" {probe.presented.issuer}) matches no Trust Store Cert: an outage waiting to"
                " happen",
                f"register the partner's CA ({probe.presented.issuer}) as a Trust Store Cert",
            )
        )
    days = probe.presented.days_left
    if days is not None and days <= settings.expiring_days:
        out.append(
            _f(
                "partner_certificate_expiring",
                "warning",
                label,
                None,
                f"its server certificate expires in {days:g} days",
                "make sure a Trust Store Cert holds its CA, not its leaf",
            )
        )
    return out


def _legacy(names: Iterable[str]) -> list[Finding]:
    return [
        _f(
            "legacy_protocol_property",
            "warning",
            f"property {name!r}",
            None,
            "legacy protocol properties take precedence over protocol profiles and load every"
            " certificate (PRB1923704, KB0824494)",
            "back it up and delete it, then test the integrations that use the profile",
        )
        for name in names
    ]


def find_all(
    certificates: list[CertificateRecord],
    profiles: list[ProfileRecord],
    messages: list[MessageRecord],
    partners: list[PartnerProbe],
    legacy: list[str],
    settings: EstateSettings,
) -> list[Finding]:
    """Every finding, most severe first."""
    keystores = {c.sys_id: c for c in certificates if c.kind in ("keystore", "pkcs12")}
    by_profile = {p.sys_id: p for p in profiles}
    out: list[Finding] = []
    for record in certificates:
        if record.kind in ("keystore", "pkcs12"):
            out += _keystore(record, settings)
        elif record.kind == "trust":
            out += _trust(record, partners, settings)
    for profile in profiles:
        out += _profile(profile, keystores)
    for message in messages:
        out += _message(message, by_profile)
    seen: set[str] = set()
    for probe in partners:
        if probe.endpoint not in seen:
            seen.add(probe.endpoint)
            out += _partner(probe, settings)
    out += _legacy(legacy)
    return sorted(out, key=lambda f: SEVERITIES.index(f.severity))
