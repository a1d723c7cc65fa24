"""X.509 certificates in and out: parsing bundles, fingerprints, PEM/DER, descriptions."""

from __future__ import annotations

import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from workers.errors import RequestInvalid

__all__ = [
    "MAX_CERTIFICATE_PEM",
    "MAX_CHAIN_PEM",
    "cert_to_der",
    "cert_to_pem",
    "describe",
    "issuer_of",
    "parse_certificates",
    "sha256_fingerprint",
]

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)


MAX_CERTIFICATES = 16  # no real chain is longer; a longer bundle is refused, not parsed
# What a person or a CA may hand us as text, wherever they hand it (callback, resume, the
# console): a leaf is a few KB, sixteen certificates of a chain well under 200 KB.
MAX_CERTIFICATE_PEM = 100_000
MAX_CHAIN_PEM = 200_000


def parse_certificates(
    data: bytes | str, *, what: str = "certificate", limit: int | None = MAX_CERTIFICATES
) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (text around the blocks ignored), or one DER.

    Raises ``RequestInvalid`` naming ``what`` and the position of a bad certificate; the
    input itself is never echoed (it may be a private key pasted in the wrong field).
    """
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    if not raw.strip():
        raise RequestInvalid(f"'{what}' is empty", hint="give one or more PEM certificates")
    if b"PRIVATE KEY-----" in raw:
        raise RequestInvalid(
            f"'{what}' contains a private key",
            hint="give certificates only; a private key never leaves its owner",
        )
    blocks = _PEM_BLOCK.findall(raw)
    if not blocks:
        if isinstance(data, bytes) and raw[:1] == b"\x30":
            return [_load_der(raw, what)]
        raise RequestInvalid(
            f"'{what}' holds no PEM certificate",
            hint="give '-----BEGIN CERTIFICATE-----' blocks, or the DER bytes of one",
        )
    if limit is not None and len(blocks) > limit:
        raise RequestInvalid(
            f"'{what}' holds {len(blocks)} certificates; at most {limit} are read",
            hint="give the leaf, its intermediates and the root only",
        )
    certificates = []
    for position, block in enumerate(blocks, start=1):
        try:
            certificates.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise RequestInvalid(
                f"certificate {position} in '{what}' is not valid DER/PEM",
                hint="check that the block was copied whole, with its BEGIN and END lines",
            ) from exc
    return certificates


def _load_der(raw: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise RequestInvalid(
            f"'{what}' holds no PEM certificate and is not a DER certificate",
            hint="give '-----BEGIN CERTIFICATE-----' blocks, or the DER bytes of one",
        ) from exc


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's DER (what ServiceNow and browsers show, sans colons)."""
    return hashlib.sha256(cert_to_der(cert)).hexdigest()


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def issuer_of(pem: bytes) -> str:
    """The issuer DN (RFC 4514) of the first certificate in ``pem``."""
    return x509.load_pem_x509_certificate(pem).issuer.rfc4514_string()


def describe(cert: x509.Certificate) -> dict[str, str]:
    """The facts a person checks: subject, issuer, serial, validity (ISO, UTC), sha256."""
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": sha256_fingerprint(cert),
    }
