"""What discovery reports: the instance's mutual-TLS records and the findings about them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "CertificateFacts",
    "CertificateRecord",
    "EstateReport",
    "Finding",
    "MessageRecord",
    "PartnerProbe",
    "ProfileRecord",
    "Severity",
]

Severity = Literal["critical", "high", "warning", "info"]
UNKNOWN = "unknown"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CertificateFacts(_Model):
    """One X.509 certificate as a person checks it; ``source`` says where it was read:
    ``pem`` (the record's PEM), ``derived`` (the instance's derived fields only),
    ``attachment`` (read from the attached keystore without its password)."""

    subject: str = UNKNOWN
    issuer: str = UNKNOWN
    sans: list[str] | None = None  # None: unknown
    key_type: str = UNKNOWN  # rsa, ec, ...
    key_size: int | None = None
    ekus: list[str] | None = None  # None: unknown; [] : no EKU extension (any usage)
    is_ca: bool | None = None
    not_before: str | None = None
    not_after: str | None = None
    days_left: float | None = None
    sha256: str | None = None
    pem: str | None = None  # the public certificate (a trust cert's, or a keystore's leaf)
    chain_pems: list[str] = []  # a keystore's CA certificates, when readable
    source: Literal["pem", "derived", "attachment", "none"] = "none"


class CertificateRecord(_Model):
    sys_id: str
    name: str
    kind: Literal["keystore", "pkcs12", "trust", "other"]
    type: str
    active: bool
    attachment: str | None = None  # sys_id of the newest attachment
    attachment_sha256: str | None = None
    certificate: CertificateFacts
    profiles: list[str] = []  # protocols of the profiles using it


class ProfileRecord(_Model):
    sys_id: str
    protocol: str
    port: str
    keystore: str | None  # sys_id, as referenced
    keystore_state: Literal["active", "inactive", "missing", "none", "not_a_keystore"]
    used_by: list[str] = []  # "rest:Name" / "soap:Name"


class MessageRecord(_Model):
    kind: Literal["rest", "soap"]
    sys_id: str
    name: str
    endpoint: str
    profile: str | None  # sys_id
    protocol: str | None  # the profile's protocol name, when it exists
    on_mutual_auth: bool  # the message itself (else only some methods/functions)
    methods: list[str] = []  # methods/functions on mutual auth
    # how it reaches its profile: the "Use mutual authentication" checkbox, or only an
    # endpoint written <protocol>://host/path (the profile's name as the URL scheme)
    via: Literal["checkbox", "scheme"] = "checkbox"
    scheme: str | None = None  # the endpoint's custom scheme, lower case, when it has one


class PartnerProbe(_Model):
    endpoint: str
    probed: bool
    reason: str = ""  # why not probed, or what failed
    presented: CertificateFacts | None = None
    trusted_by: list[str] = []  # sys_ids of the Trust Store Certs that anchor it


class Finding(_Model):
    code: str
    severity: Severity
    record: str  # what it is about: "keystore 'name'", "rest 'Billing API'", ...
    sys_id: str | None = None
    message: str
    fix: str


class EstateReport(_Model):
    instance: str
    url: str
    discovered_at: str
    calls: int
    certificates: list[CertificateRecord]
    profiles: list[ProfileRecord]
    messages: list[MessageRecord]
    legacy_properties: list[str]
    partners: list[PartnerProbe]
    findings: list[Finding]
