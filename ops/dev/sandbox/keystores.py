"""Loading a keystore the way the instance's JVM does, and reading a certificate's fields.

:func:`load_keystore` answers what ``java.security.KeyStore.load`` followed by
``getKey(alias, password)`` would: ``None`` when the keystore opens with the password and
its private key entry decrypts with the same password (KB0824494), else a Java-style
exception text as the platform logs it (KB1217702).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import jks
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

__all__ = ["certificate_fields", "der_fields", "load_keystore", "pem_fields"]

TAMPERED = "java.io.IOException: Keystore was tampered with, or password was incorrect"
BAD_FORMAT = "java.io.IOException: Invalid keystore format"
NO_KEY = "java.security.KeyStoreException: no private key entry found in keystore"
CANNOT_RECOVER = "java.security.UnrecoverableKeyException: Cannot recover key"
PKCS12_PASSWORD = "java.io.IOException: keystore password was incorrect"  # noqa: S105 - a message

_FORMAT = "%Y-%m-%d %H:%M:%S"


def _name(name: x509.Name) -> str:
    """A distinguished name as Java's X500Principal prints it: most specific first."""
    return ", ".join(rdn.rfc4514_string() for rdn in reversed(name.rdns))


def certificate_fields(cert: x509.Certificate) -> dict[str, str]:
    """The derived sys_certificate fields (1.2) for one certificate."""
    expires = cert.not_valid_after_utc
    days = (expires - datetime.now(UTC)).days
    return {
        "valid_from": cert.not_valid_before_utc.strftime(_FORMAT),
        "expires": expires.strftime(_FORMAT),
        "expires_in_days": str(days),
        "issuer": _name(cert.issuer),
        "subject": _name(cert.subject),
    }


def _empty() -> dict[str, str]:
    return dict.fromkeys(("valid_from", "expires", "expires_in_days", "issuer", "subject"), "")


def pem_fields(pem: str) -> dict[str, str]:
    """Derived fields of a pasted PEM; all empty when it does not decode."""
    try:
        return certificate_fields(x509.load_pem_x509_certificate(pem.encode()))
    except ValueError:
        return _empty()


def der_fields(data: bytes) -> dict[str, str] | None:
    """Derived fields of an attached DER certificate, or None if it is not one."""
    try:
        return certificate_fields(x509.load_der_x509_certificate(data))
    except ValueError:
        return None


def _load_jks(data: bytes, password: str) -> tuple[str | None, x509.Certificate | None]:
    try:
        store = jks.KeyStore.loads(data, password)
    except jks.util.KeystoreSignatureException:
        return TAMPERED, None
    except (jks.util.KeystoreException, ValueError, IndexError, UnicodeError, struct.error):
        return BAD_FORMAT, None
    entries = list(store.private_keys.values())
    if not entries:
        return NO_KEY, None
    for entry in entries:
        if not entry.is_decrypted():
            return CANNOT_RECOVER, None
    chain = entries[0].cert_chain
    leaf = x509.load_der_x509_certificate(chain[0][1]) if chain else None
    return None, leaf


def _load_pkcs12(data: bytes, password: str) -> tuple[str | None, x509.Certificate | None]:
    try:
        key, leaf, _ = pkcs12.load_key_and_certificates(data, password.encode())
    except ValueError as exc:
        return (PKCS12_PASSWORD if "password" in str(exc).lower() else BAD_FORMAT), None
    if key is None:
        return NO_KEY, None
    return None, leaf


def load_keystore(
    data: bytes | None, password: str, *, pkcs12_type: bool
) -> tuple[str | None, x509.Certificate | None]:
    """(Java-style error or None, the key entry's certificate) for an attached keystore."""
    if data is None:
        return "java.io.FileNotFoundException: no keystore attached to the record", None
    if pkcs12_type:
        return _load_pkcs12(data, password)
    return _load_jks(data, password)
