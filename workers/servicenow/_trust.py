"""The Trust Store Cert record of the third party's server certificate (1.5, 7 step 5).

Identity is the certificate's SHA-256: the record is found by the fingerprint written in
its short description and confirmed by parsing what it holds (PEM, or the DER attached).
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from workers.errors import RequestInvalid, ServiceNowConflict
from workers.servicenow._common import (
    CERTIFICATE,
    attachment_sha256,
    create_once,
    delete_with_attachments,
    reconcile_attachments,
    sha256_hex,
    text,
    upload_checked,
)
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import InstanceFacts
from workers.servicenow.models import TrustRecord

__all__ = [
    "ensure_trust_record",
    "find_trust",
    "find_trust_by_sha256",
    "pem_sha256",
    "trust_description",
]

_FIELDS = (
    "sys_id",
    "name",
    "type",
    "format",
    "active",
    "pem_certificate",
    "short_description",
    "sys_created_on",
)
_DER_MIME = "application/pkix-cert"


def trust_description(sha256: str) -> str:
    return f"twoway trust sha256:{sha256}"


def pem_sha256(pem: str) -> str | None:
    """SHA-256 of the DER of a PEM certificate, or None when it does not parse."""
    try:
        cert = x509.load_pem_x509_certificate(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    return sha256_hex(cert.public_bytes(Encoding.DER))


def ensure_trust_record(
    client: ServiceNowClient,
    facts: InstanceFacts,
    *,
    name: str,
    certificate_der: bytes,
    as_der_attachment: bool = False,
) -> TrustRecord:
    """Exactly one active Trust Store Cert record holding this certificate."""
    try:
        cert = x509.load_der_x509_certificate(certificate_der)
    except ValueError as exc:
        raise RequestInvalid("the server certificate is not DER-encoded X.509") from exc
    sha256 = sha256_hex(certificate_der)
    found, complete = _find(client, facts, sha256)
    if found is not None:
        if complete:
            _activate(client, found)
        else:  # a DER record whose attachment never arrived: finish it
            _attach_der(client, text(found["sys_id"]), name, certificate_der)
            client.update(CERTIFICATE, text(found["sys_id"]), {"active": "true"})
        return TrustRecord(sys_id=text(found["sys_id"]), sha256=sha256, created=not complete)
    _refuse_taken_name(client, name)
    values = {
        "name": name,
        "type": facts.trust_type,
        "short_description": trust_description(sha256),
    }
    if as_der_attachment:
        values.update(format=facts.format_der, active="false")
    else:
        pem = cert.public_bytes(Encoding.PEM).decode("ascii")
        values.update(format=facts.format_pem, pem_certificate=pem, active="true")
    record = create_once(client, CERTIFICATE, values, lambda: _find(client, facts, sha256)[0])
    if as_der_attachment:
        _attach_der(client, text(record["sys_id"]), name, certificate_der)
        _activate(client, record)
    return TrustRecord(sys_id=text(record["sys_id"]), sha256=sha256, created=True)


def find_trust(
    client: ServiceNowClient, facts: InstanceFacts, certificate_der: bytes
) -> str | None:
    """The sys_id of the oldest complete record holding the certificate; changes nothing."""
    found = find_trust_by_sha256(client, facts, sha256_hex(certificate_der))
    return text(found["sys_id"]) if found is not None else None


def find_trust_by_sha256(
    client: ServiceNowClient, facts: InstanceFacts, sha256: str
) -> dict[str, Any] | None:
    """The oldest complete record holding the certificate of this SHA-256 (read-only)."""
    rows = _candidates(client, facts, sha256)
    return next((r for r in rows if _holds(client, facts, r, sha256)), None)


def _candidates(
    client: ServiceNowClient, facts: InstanceFacts, sha256: str
) -> list[dict[str, Any]]:
    rows = client.query(
        CERTIFICATE,
        {"type": facts.trust_type},
        encoded=f"short_descriptionLIKE{sha256}",
        fields=_FIELDS,
    )
    return sorted(rows, key=lambda r: (text(r.get("sys_created_on")), text(r.get("sys_id"))))


def _find(
    client: ServiceNowClient, facts: InstanceFacts, sha256: str
) -> tuple[dict[str, Any] | None, bool]:
    """The record holding the certificate, and whether it is complete."""
    rows = _candidates(client, facts, sha256)
    complete = [r for r in rows if _holds(client, facts, r, sha256)]
    if complete:
        for extra in complete[1:]:  # a create whose answer was lost landed late: ours twice
            if text(extra.get("short_description")) == trust_description(sha256):
                delete_with_attachments(client, CERTIFICATE, text(extra["sys_id"]))
        return complete[0], True
    half_made = (
        r
        for r in rows
        if text(r.get("short_description")) == trust_description(sha256)
        and text(r.get("format")) == facts.format_der
    )
    return next(half_made, None), False


def _holds(
    client: ServiceNowClient, facts: InstanceFacts, row: dict[str, Any], sha256: str
) -> bool:
    if pem_sha256(text(row.get("pem_certificate"))) == sha256:
        return True
    return text(row.get("format")) == facts.format_der and _der_attached(client, row, sha256)


def _der_attached(client: ServiceNowClient, row: dict[str, Any], sha256: str) -> bool:
    metas = client.list_attachments(CERTIFICATE, text(row["sys_id"]))
    return any(attachment_sha256(client, meta) == sha256 for meta in metas)


def _attach_der(client: ServiceNowClient, sys_id: str, name: str, der: bytes) -> None:
    sha256 = sha256_hex(der)

    def deactivate() -> None:
        client.update(CERTIFICATE, sys_id, {"active": "false"})

    if reconcile_attachments(client, CERTIFICATE, sys_id, sha256, deactivate) is None:
        file_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) + ".der"
        upload_checked(client, CERTIFICATE, sys_id, file_name, der, _DER_MIME)


def _activate(client: ServiceNowClient, row: dict[str, Any]) -> None:
    if text(row.get("active")) != "true":
        client.update(CERTIFICATE, text(row["sys_id"]), {"active": "true"})


def _refuse_taken_name(client: ServiceNowClient, name: str) -> None:
    taken = client.query(CERTIFICATE, {"name": name}, fields=("sys_id", "type"))
    if taken:
        raise ServiceNowConflict(
            f"a certificate record named {name!r} exists (sys_id {text(taken[0]['sys_id'])})"
            " and does not hold this server certificate",
            hint="choose another name for the trust record; names must be unique",
        )
