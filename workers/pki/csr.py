"""PKCS#10 certificate signing requests from a job's subject and DNS names."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from messages.job import SubjectName
from workers.pki.keys import load_private_key

__all__ = ["SUBJECT_ATTRIBUTES", "build_csr", "subject_name"]

#: The subject attributes a job may set, in DN order, with the job field that holds each.
SUBJECT_ATTRIBUTES: tuple[tuple[str, x509.ObjectIdentifier, str], ...] = (
    ("C", NameOID.COUNTRY_NAME, "c"),
    ("ST", NameOID.STATE_OR_PROVINCE_NAME, "st"),
    ("L", NameOID.LOCALITY_NAME, "l"),
    ("O", NameOID.ORGANIZATION_NAME, "o"),
    ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME, "ou"),
    ("CN", NameOID.COMMON_NAME, "cn"),
)


def subject_name(subject: SubjectName) -> x509.Name:
    """The X.509 name in the order C, ST, L, O, OU, CN, with only the attributes given."""
    attributes = []
    for _, oid, field in SUBJECT_ATTRIBUTES:
        value = getattr(subject, field)
        if value is not None:
            attributes.append(x509.NameAttribute(oid, value))
    return x509.Name(attributes)


def build_csr(private_key_pem: bytes, subject: SubjectName, dns_sans: Sequence[str]) -> bytes:
    """A PKCS#10 CSR (PEM) signed with SHA-256, with a SAN extension when names are given."""
    key = load_private_key(private_key_pem)
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(subject))
    if dns_sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_sans]),
            critical=False,
        )
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)
