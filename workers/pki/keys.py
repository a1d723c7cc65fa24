"""Private keys and public-key fingerprints, as PEM bytes in and out.

Keys leave this module as unencrypted PKCS#8 PEM, in memory only: the caller seals them
with :class:`workers.sealing.Sealer` before anything is stored.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PublicKeyTypes,
)

from messages.job import KeyType
from workers.errors import RequestInvalid

__all__ = ["generate_private_key", "load_private_key", "public_key_sha256", "spki_der"]

_RSA_BITS = {KeyType.RSA2048: 2048, KeyType.RSA3072: 3072, KeyType.RSA4096: 4096}
_EC_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.EC256: ec.SECP256R1(),
    KeyType.EC384: ec.SECP384R1(),
}


def generate_private_key(key_type: KeyType) -> bytes:
    """A new key pair of ``key_type`` as unencrypted PKCS#8 PEM (RSA with e=65537)."""
    key: CertificateIssuerPrivateKeyTypes
    if key_type in _RSA_BITS:
        key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_type])
    else:
        key = ec.generate_private_key(_EC_CURVES[key_type])
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> CertificateIssuerPrivateKeyTypes:
    """An RSA or EC private key from unencrypted PEM; anything else is ``RequestInvalid``.

    Only keys twoway generated itself (and kept sealed) come here, never a key a user
    supplies, so OpenSSL's RSA consistency check is skipped: it cost ~40 ms a load, five
    loads a job, and was most of an RSA job's CPU (twoway bench).
    """
    try:
        key = serialization.load_pem_private_key(
            pem, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as exc:
        raise RequestInvalid(
            "the private key is not an unencrypted PEM private key",
            hint="pass the PKCS#8 PEM that generate_private_key returned (unsealed)",
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise RequestInvalid(f"unsupported private key type {type(key).__name__}: use RSA or EC")
    return key


def _public_key(pem: bytes) -> PublicKeyTypes:
    if b"PRIVATE KEY-----" in pem:
        return load_private_key(pem).public_key()
    try:
        if b"CERTIFICATE REQUEST-----" in pem:
            return x509.load_pem_x509_csr(pem).public_key()
        if b"-----BEGIN CERTIFICATE-----" in pem:
            return x509.load_pem_x509_certificate(pem).public_key()
        if b"-----BEGIN PUBLIC KEY-----" in pem:
            return serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise RequestInvalid("the PEM block cannot be parsed") from exc
    raise RequestInvalid("expected a PEM private key, certificate, CSR or public key")


def spki_der(pem: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a private key, certificate, CSR or public key PEM."""
    return _public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_sha256(pem: bytes) -> str:
    """Hex SHA-256 of the SubjectPublicKeyInfo DER: the same for a key, its CSR and its cert."""
    return hashlib.sha256(spki_der(pem)).hexdigest()
