"""The findings rules, one function per kind of record; each finding says what to do.

Severities: ``critical`` (broken now, or breaks at the next call or rotation), ``high``
(cannot be renewed where it came from, or refused by strict partners), ``warning``
(fix before it bites), ``info`` (tidy up). ``FIXES`` holds the fix of every code.
"""

from __future__ import annotations

from collections.abc import Iterable

from workers.config.estate import EstateSettings
from workers.estate.model import (
    CertificateRecord,
    Finding,
    MessageRecord,
    PartnerProbe,
    ProfileRecord,
    Severity,
)
from workers.readiness.doctor_model import Check

__all__ = ["FIXES", "SEVERITIES", "find_all", "is_public_ca"]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "warning", "info")
_ADOPT = "adopt it (twoway adopt) and migrate it to a private CA profile (twoway migrate --ca)"
_JOB = 'submit a job for its message naming this profile with "rotate": true'
FIXES = {
    "expired": "renew it now: adopt it and let twoway renew it, or remove it if unused",
    "expiring": "adopt it so that twoway renews it before it expires",
    "certificate_details_unknown": f"adoption needs the certificate: {_JOB}",
    "public_ca_client_certificate": _ADOPT + "; the partner must trust that CA before the switch",
    "missing_client_auth": "partners that check the usage refuse it: " + _ADOPT,
    "rsa_above_2048": "renew it with an rsa2048 or EC key (adopt, then renew or migrate)",
    "orphaned_keystore": "deactivate or delete it once nothing needs it",
    "orphaned_trust_cert": "check whether another integration needs it; deactivate it if not",
    "orphaned_profile": "delete it once nothing needs it",
    "profile_keystore_missing": f"{_JOB} (a new keystore, proven, then the profile re-pointed)",
    "profile_keystore_inactive": "activate a keystore that loads, or adopt and renew it",
    "profile_keystore_expired": "adopt the integration and renew it now",
    "message_profile_missing": "submit a job for it (it creates the profile and keystore)",
    "message_keystore_missing": f"{_JOB}: its keystore is proven before the profile moves",
    "scheme_profile_missing": "create the protocol profile its endpoint's scheme names (a job"
    " with that protocol_profile.name), or correct the endpoint to https://",
    "partner_certificate_expiring": "make sure a Trust Store Cert holds its CA, not its leaf",
}
_GONE = {"missing": "is gone", "none": "is not set", "not_a_keystore": "is not a keystore"}


def _f(
    code: str,
    severity: Severity,
    record: str,
    sys_id: str | None,
    message: str,
    fix: str | None = None,
) -> Finding:
    """A finding; its fix is ``FIXES[code]`` unless one naming the record is given."""
    return Finding(
        code=code,
        severity=severity,
        record=record,
        sys_id=sys_id,
        message=message,
        fix=fix or FIXES[code],
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


def _expiry(label: str, record: CertificateRecord, settings: EstateSettings) -> list[Finding]:
    days, end = record.certificate.days_left, record.certificate.not_after
    if days is None or days > settings.expiring_days:
        return []
    if days < 0:
        return [
            _f("expired", "critical", label, record.sys_id, f"expired {-days:g} days ago ({end})")
        ]
    severity: Severity = "critical" if days <= settings.critical_days else "warning"
    return [_f("expiring", severity, label, record.sys_id, f"expires in {days:g} days ({end})")]


def _keystore(record: CertificateRecord, settings: EstateSettings) -> list[Finding]:
    label, facts = f"keystore {record.name!r}", record.certificate
    out = _expiry(label, record, settings) + _client_certificate(label, record, settings)
    if facts.source in ("none", "derived"):
        derived = " (the instance derived subject and dates)" if facts.source == "derived" else ""
        text = "the keystore's certificate cannot be read without its password" + derived
        out.append(_f("certificate_details_unknown", "info", label, record.sys_id, text))
    if not record.profiles:
        loaded = " (and it is active: every active keystore is loaded, KB1217702)"
        text = "no protocol profile uses this keystore" + (loaded if record.active else "")
        out.append(_f("orphaned_keystore", "info", label, record.sys_id, text))
    return out


def _client_certificate(
    label: str, record: CertificateRecord, settings: EstateSettings
) -> list[Finding]:
    """What makes a client certificate unrenewable where it came from, or refused."""
    facts, out = record.certificate, []
    public = is_public_ca(record, settings)
    if public:
        text = (
            f"client certificate from a public CA: {public}; public CAs no longer issue"
            " clientAuth (2026), so it cannot be renewed there"
        )
        out.append(_f("public_ca_client_certificate", "high", label, record.sys_id, text))
    if facts.ekus and "clientAuth" not in facts.ekus:
        text = f"the certificate's extended key usage ({', '.join(facts.ekus)}) lacks clientAuth"
        out.append(_f("missing_client_auth", "high", label, record.sys_id, text))
    if facts.key_type == "rsa" and (facts.key_size or 0) > 2048:
        text = f"RSA {facts.key_size} bits: the instance's documentation states 2048 at most"
        out.append(_f("rsa_above_2048", "warning", label, record.sys_id, text))
    return out


def _trust(
    record: CertificateRecord, partners: list[PartnerProbe], settings: EstateSettings
) -> list[Finding]:
    label, facts = f"trust cert {record.name!r}", record.certificate
    out = _expiry(label, record, settings)
    if facts.is_ca is False:
        text = (
            f"it is a server's own certificate ({facts.subject}), not a CA: it breaks at the"
            " partner's next rotation (at most 200 days from 2026-03-15, 47 days from 2029)"
        )
        fix = f"register the partner's issuing CA ({facts.issuer}) as the Trust Store Cert"
        out.append(_f("trust_pins_partner_leaf", "warning", label, record.sys_id, text, fix))
    probed = [p for p in partners if p.probed]
    anchors_none = all(record.sys_id not in p.trusted_by for p in probed)
    if probed and len(probed) == len(partners) and anchors_none:
        text = "it anchors none of the endpoints the messages on mutual auth call"
        out.append(_f("orphaned_trust_cert", "info", label, record.sys_id, text))
    return out


def _profile(profile: ProfileRecord, keystores: dict[str, CertificateRecord]) -> list[Finding]:
    label, state, out = f"profile {profile.protocol!r}", profile.keystore_state, []
    if state in _GONE:
        text = f"its keystore {_GONE[state]}: calls through it send no client certificate"
        out.append(_f("profile_keystore_missing", "critical", label, profile.sys_id, text))
    elif state == "inactive":
        text = "its keystore record is inactive"
        out.append(_f("profile_keystore_inactive", "high", label, profile.sys_id, text))
    keystore = keystores.get(profile.keystore or "")
    if keystore and (keystore.certificate.days_left or 0) < 0:
        text = f"its keystore {keystore.name!r} holds an expired certificate"
        out.append(_f("profile_keystore_expired", "critical", label, profile.sys_id, text))
    if not profile.used_by:
        text = "no REST or SOAP message uses it (by its checkbox or its endpoint's scheme)"
        out.append(_f("orphaned_profile", "info", label, profile.sys_id, text))
    return out


def _message(message: MessageRecord, profiles: dict[str, ProfileRecord]) -> list[Finding]:
    label = f"{message.kind} {message.name!r}"
    profile = profiles.get(message.profile or "")
    if profile is None and message.via == "scheme":
        text = (
            f"its endpoint's scheme {message.scheme!r} names no protocol profile: the instance"
            " cannot call it"
        )
        return [_f("scheme_profile_missing", "high", label, message.sys_id, text)]
    if profile is None:
        text = "it is on mutual auth with a protocol profile that does not exist"
        return [_f("message_profile_missing", "critical", label, message.sys_id, text)]
    if profile.keystore_state in _GONE:
        text = f"its profile {profile.protocol!r} points at a keystore that is gone"
        return [_f("message_keystore_missing", "critical", label, message.sys_id, text)]
    return []


def _partner(probe: PartnerProbe, settings: EstateSettings) -> list[Finding]:
    presented = probe.presented
    if not probe.probed or presented is None:
        return []
    label, out = f"partner {probe.endpoint}", []
    if not probe.trusted_by:
        text = (
            f"the server certificate it presents ({presented.subject}, issued by"
            f" {presented.issuer}) matches no Trust Store Cert: an outage waiting to happen"
        )
        fix = f"register the partner's CA ({presented.issuer}) as a Trust Store Cert"
        out.append(_f("partner_not_trusted", "critical", label, None, text, fix))
    days = presented.days_left
    if days is not None and days <= settings.expiring_days:
        text = f"its server certificate expires in {days:g} days"
        out.append(_f("partner_certificate_expiring", "warning", label, None, text))
    return out


def _platform(checks: Iterable[Check]) -> list[Finding]:
    """The known platform problems (:mod:`workers.readiness.platform_problems`, the checks
    ``doctor`` makes): a failed one is a warning, one the instance does not tell is info."""
    out: list[Finding] = []
    for check in checks:
        if check.status == "pass":
            continue
        severity: Severity = "warning" if check.status == "fail" else "info"
        fix = check.fix or "ask the instance's administrator; see docs/servicenow.md"
        out.append(_f("platform_problem", severity, check.name, None, check.detail, fix))
    return out


def find_all(
    certificates: list[CertificateRecord],
    profiles: list[ProfileRecord],
    messages: list[MessageRecord],
    partners: list[PartnerProbe],
    platform: list[Check],
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
    out += _platform(platform)
    return sorted(out, key=lambda f: SEVERITIES.index(f.severity))
