"""Adoption: a discovered integration comes under management, the instance untouched.

An adopted integration is a job record that twoway did not run: state ``succeeded``
(event ``adopted``), its request describing what is on the instance (the message, its
profile, the keystore record's name, the certificate's subject and SANs, the trust
certificate that anchors the partner, and the CA profile that the adopter names for its
renewals), the certificate as its ``certificate`` artifact and the keystore record as its
``upload-keystore`` output. So ``twoway certificates`` lists it with its notAfter and the
scheduler renews it like any job: new key, new keystore record, proof, the profile
re-pointed, the old record retired (workers/stages/switch.py).

Adopting again is harmless: an integration twoway already manages is reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from messages import JobRequest, JobState, KeystoreUploaded, Stage
from workers.app import App
from workers.errors import IdempotencyConflict
from workers.estate.inventory import discover_estate
from workers.estate.model import CertificateRecord, EstateReport, MessageRecord, ProfileRecord
from workers.levers.renewal import inventory

__all__ = ["AdoptionResult", "Selection", "adopt", "adopt_estate"]

_SUBJECT = {
    NameOID.COMMON_NAME: "cn",
    NameOID.ORGANIZATION_NAME: "o",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "ou",
    NameOID.LOCALITY_NAME: "l",
    NameOID.STATE_OR_PROVINCE_NAME: "st",
    NameOID.COUNTRY_NAME: "c",
}


@dataclass(frozen=True)
class Selection:
    """Which integrations to adopt: ``names`` (messages), or ``everything`` narrowed by the
    filters (a message kind, protocol names, a finding code on its keystore)."""

    names: tuple[str, ...] = ()
    everything: bool = False
    kind: str | None = None
    protocols: tuple[str, ...] = ()
    finding: str | None = None

    def picks(self, message: MessageRecord, codes: set[str]) -> bool:
        if self.names and message.name not in self.names:
            return False
        if not (self.names or self.everything):
            return False
        if self.kind and message.kind != self.kind:
            return False
        if self.protocols and message.protocol not in self.protocols:
            return False
        return not self.finding or self.finding in codes


@dataclass
class AdoptionResult:
    adopted: list[dict[str, Any]] = field(default_factory=list)  # new job records
    already: list[dict[str, Any]] = field(default_factory=list)  # managed before
    skipped: list[dict[str, Any]] = field(default_factory=list)  # with the reason

    def as_dict(self) -> dict[str, Any]:
        return {"adopted": self.adopted, "already": self.already, "skipped": self.skipped}


def _subject(pem: str) -> tuple[dict[str, str], list[str]]:
    cert = x509.load_pem_x509_certificate(pem.encode())
    subject: dict[str, str] = {}
    for attribute in cert.subject:
        key = _SUBJECT.get(attribute.oid)
        if key and key not in subject:
            subject[key] = str(attribute.value)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = list(sans.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns = []
    return subject, dns


def _key_type(record: CertificateRecord) -> str:
    facts = record.certificate
    if facts.key_type == "ec":
        return "ec384" if (facts.key_size or 0) > 256 else "ec256"
    return "rsa2048"  # the instance's documented limit (a larger RSA key is a finding)


def _server_pem(report: EstateReport, message: MessageRecord) -> str | None:
    """The Trust Store Cert that anchors the partner, else what the partner presents."""
    trusts = {c.sys_id: c for c in report.certificates if c.kind == "trust"}
    for probe in report.partners:
        if probe.endpoint != message.endpoint or not probe.probed:
            continue
        for sys_id in probe.trusted_by:
            if trusts[sys_id].certificate.pem:
                return trusts[sys_id].certificate.pem
        return probe.presented.pem if probe.presented else None
    return None


def _port(profile: ProfileRecord, endpoint: str) -> int:
    if profile.port.isdigit() and 0 < int(profile.port) < 65536:
        return int(profile.port)
    try:
        return urlsplit(endpoint).port or 443
    except ValueError:
        return 443


def _request(
    report: EstateReport, message: MessageRecord, ca: str
) -> tuple[JobRequest, CertificateRecord] | str:
    """The request that describes the integration, or why it cannot be adopted."""
    profiles = {p.sys_id: p for p in report.profiles}
    profile = profiles.get(message.profile or "")
    if profile is None:
        return "its protocol profile does not exist: submit a job for it instead"
    keystore = next((c for c in report.certificates if c.sys_id == profile.keystore), None)
    if keystore is None or keystore.kind not in ("keystore", "pkcs12"):
        return (
            f"profile {profile.protocol!r} has no keystore: submit a job for it with"
            f" protocol_profile.name {profile.protocol!r} and rotate"
        )
    if not (keystore.certificate.pem and keystore.attachment and keystore.attachment_sha256):
        return (
            f"the certificate of keystore {keystore.name!r} cannot be read without its"
            " password: submit a job with protocol_profile.name"
            f" {profile.protocol!r} and rotate instead"
        )
    server = _server_pem(report, message)
    if server is None:
        return "the partner's server certificate is unknown (its endpoint was not probed)"
    subject, dns = _subject(keystore.certificate.pem)
    body = {
        "instance": report.instance,
        "target": {"kind": message.kind, "name": message.name},
        "subject": subject,
        "dns_sans": dns,
        "key": {"type": _key_type(keystore)},
        "ca": {"profile": ca},
        "keystore": {"record_name": keystore.name},
        "server_certificate": {"pem": server},
        "protocol_profile": {"name": profile.protocol, "port": _port(profile, message.endpoint)},
        "rotate": True,
    }
    try:
        return JobRequest.model_validate(body), keystore
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"it does not fit a job request ({where}: {first['msg']})"


def _record(
    app: App,
    request: JobRequest,
    keystore: CertificateRecord,
    detail: dict[str, Any],
) -> tuple[str, bool]:
    """The adopted job (created, or the one an earlier adoption made)."""
    store = app.store
    key = f"adopt:{request.instance}:{request.target.kind.value}:{detail['message_sys_id']}"
    try:
        job, created = store.create_job(request, idempotency_key=key)
    except IdempotencyConflict:  # adopted before, with other choices
        return "", False
    if job.state is not JobState.ACCEPTED:
        return job.id, False
    assert keystore.certificate.pem and keystore.attachment and keystore.attachment_sha256
    chain = "".join(keystore.certificate.chain_pems).encode()
    store.artifacts.put_all(
        job.id, {"certificate": keystore.certificate.pem.encode(), "ca_chain": chain}
    )
    uploaded = KeystoreUploaded(
        job_id=job.id,
        keystore_sys_id=keystore.sys_id,
        attachment_sys_id=keystore.attachment,
        keystore_sha256=keystore.attachment_sha256,
    )
    store.transition(
        job.id,
        kind="adopted",
        expect={JobState.ACCEPTED},
        state=JobState.SUCCEEDED,
        stage=Stage.VERIFY,
        detail=detail,
        output=(Stage.UPLOAD_KEYSTORE, uploaded.model_dump_json()),
    )
    return job.id, created


def _detail(
    message: MessageRecord, keystore: CertificateRecord, actor: str, findings: set[str]
) -> dict[str, Any]:
    """What the ``adopted`` event keeps: who, which records, the certificate, the findings."""
    return {
        "actor": actor,
        "message_sys_id": message.sys_id,
        "profile_sys_id": message.profile,
        "keystore_sys_id": keystore.sys_id,
        "keystore_name": keystore.name,
        "issuer": keystore.certificate.issuer,
        "not_after": keystore.certificate.not_after,
        "findings": sorted(findings),
    }


def adopt(
    app: App,
    report: EstateReport,
    selection: Selection,
    *,
    ca: str,
    actor: str,
) -> AdoptionResult:
    """Adopt the selected integrations of a fresh ``report``; nothing on the instance
    changes."""
    app.config.ca_profile(ca)  # an unknown CA profile is refused before anything is made
    managed = {
        (c.instance, c.target): c.job_id
        for c in inventory(app)
        if c.state != "replaced" and c.instance == report.instance
    }
    codes: dict[str | None, set[str]] = {}
    for finding in report.findings:
        codes.setdefault(finding.sys_id, set()).add(finding.code)
    result = AdoptionResult()
    for message in report.messages:
        profile = next((p for p in report.profiles if p.sys_id == message.profile), None)
        own = codes.get(profile.keystore if profile else None, set()) | codes.get(
            message.sys_id, set()
        )
        if not selection.picks(message, own):
            continue
        about = {"kind": message.kind, "name": message.name}
        if (report.instance, message.name) in managed:
            result.already.append({**about, "job_id": managed[(report.instance, message.name)]})
            continue
        made = _request(report, message, ca)
        if isinstance(made, str):
            result.skipped.append({**about, "reason": made})
            continue
        request, keystore = made
        detail = _detail(message, keystore, actor, own)
        job_id, created = _record(app, request, keystore, detail)
        target = result.adopted if created else result.already
        target.append({**about, "job_id": job_id or None, "keystore": keystore.name})
    found = {m.name for m in report.messages}
    for name in selection.names:
        if name not in found:
            reason = "no REST or SOAP message of that name is on mutual auth on the instance"
            result.skipped.append({"kind": selection.kind or "", "name": name, "reason": reason})
    return result


def adopt_estate(
    app: App, instance: str, selection: Selection, *, ca: str, actor: str
) -> AdoptionResult:
    """Discover the instance afresh (read-only), then adopt the selection."""
    report = discover_estate(instance, app.config, app.deps.instances)
    return adopt(app, report, selection, ca=ca, actor=actor)
