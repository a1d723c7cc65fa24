"""Reading certificates the way discovery finds them: a pasted PEM, an attached DER, a JKS
without its password (JKS keeps certificates in the clear; only the integrity check needs
the password, and discovery skips it), a PKCS12 only when its certificates are not
encrypted, and otherwise the fields the instance derived."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import jks
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from workers.estate.model import UNKNOWN, CertificateFacts
from workers.pki import sha256_fingerprint

__all__ = ["from_attachment", "from_certificate", "from_derived", "from_pem", "load_pem"]

_TIME = "%Y-%m-%d %H:%M:%S"


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "eddsa", None
    return UNKNOWN, None


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _sans(cert: x509.Certificate) -> list[str]:
    value = _extension(cert, x509.SubjectAlternativeName)
    if not isinstance(value, x509.SubjectAlternativeName):
        return []
    return [str(name.value) for name in value]


def _ekus(cert: x509.Certificate) -> list[str]:
    value = _extension(cert, x509.ExtendedKeyUsage)
    if not isinstance(value, x509.ExtendedKeyUsage):
        return []
    return [getattr(oid, "_name", None) or oid.dotted_string for oid in value]


def _is_ca(cert: x509.Certificate) -> bool:
    value = _extension(cert, x509.BasicConstraints)
    return isinstance(value, x509.BasicConstraints) and value.ca


def _days_left(not_after: datetime, now: datetime) -> float:
    return round((not_after - now).total_seconds() / 86400, 1)


def from_certificate(
    cert: x509.Certificate,
    *,
    source: str,
    chain: tuple[x509.Certificate, ...] = (),
    now: datetime | None = None,
) -> CertificateFacts:
    key_type, key_size = _key(cert)
    end = cert.not_valid_after_utc
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=_sans(cert),
        key_type=key_type,
        key_size=key_size,
        ekus=_ekus(cert),
        is_ca=_is_ca(cert),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=end.isoformat(),
        days_left=_days_left(end, now or datetime.now(UTC)),
        sha256=sha256_fingerprint(cert),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        chain_pems=[c.public_bytes(serialization.Encoding.PEM).decode() for c in chain],
        source=source,
    )


def load_pem(pem: str) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, UnicodeError):
        return None


def from_pem(pem: str) -> CertificateFacts | None:
    cert = load_pem(pem)
    return from_certificate(cert, source="pem") if cert is not None else None


def from_derived(row: dict[str, str], now: datetime | None = None) -> CertificateFacts:
    """What the instance derived (1.2): subject, issuer, valid from, expires; the rest unknown."""
    expires = _parse_time(str(row.get("expires") or ""))
    start = _parse_time(str(row.get("valid_from") or ""))
    if not (row.get("subject") or expires):
        return CertificateFacts()
    return CertificateFacts(
        subject=str(row.get("subject") or UNKNOWN),
        issuer=str(row.get("issuer") or UNKNOWN),
        not_before=start.isoformat() if start else None,
        not_after=expires.isoformat() if expires else None,
        days_left=_days_left(expires, now or datetime.now(UTC)) if expires else None,
        source="derived",
    )


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), _TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def _jks_chain(data: bytes) -> tuple[x509.Certificate, ...] | None:
    """The first key entry's chain (or the trusted certificates), password not needed."""
    try:
        store = jks.KeyStore.loads(data, None, try_decrypt_keys=False)
    except (jks.util.KeystoreException, ValueError, IndexError, UnicodeError, struct.error):
        return None
    keys = list(store.private_keys.values())
    if keys:
        ders = [der for _, der in keys[0].cert_chain]
    else:
        ders = [entry.cert for entry in store.certs.values()]
    try:
        return tuple(x509.load_der_x509_certificate(der) for der in ders)
    except ValueError:
        return None


def _pkcs12_chain(data: bytes) -> tuple[x509.Certificate, ...] | None:
    """Only a PKCS12 whose certificates are not encrypted reads without the password."""
    try:
        _, leaf, extra = pkcs12.load_key_and_certificates(data, None)
    except (ValueError, TypeError):
        return None
    return (leaf, *extra) if leaf is not None else None


def from_attachment(data: bytes, *, pkcs12_type: bool) -> CertificateFacts | None:
    """The key entry's certificate of an attached keystore (or a DER certificate), read
    without the password; None when the format does not allow it."""
    chain = _pkcs12_chain(data) if pkcs12_type else _jks_chain(data)
    if chain is None and not pkcs12_type:
        try:
            chain = (x509.load_der_x509_certificate(data),)
        except ValueError:
            chain = None
    if not chain:
        return None
    return from_certificate(chain[0], source="attachment", chain=chain[1:])
