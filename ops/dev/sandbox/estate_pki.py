"""Certificates for the sandbox's hand-made estate: a "public" CA, a corporate CA, and
the leaves and keystores people made with them over the years (in memory, for tests).

The sandbox keeps to cryptography and pyjks, as the instance's JVM is its own world.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jks
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["HandCa", "Leaf"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _key(rsa_bits: int | None) -> PrivateKey:
    if rsa_bits:
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Leaf:
    """An end-entity certificate with its key and the CA that issued it."""

    certificate: x509.Certificate
    key: PrivateKey
    ca: x509.Certificate

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def jks(self, alias: str = "client") -> tuple[bytes, str]:
        """A JKS with the key pair under ``alias`` (leaf then CA) and its password."""
        pkcs8 = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        chain = [c.public_bytes(serialization.Encoding.DER) for c in (self.certificate, self.ca)]
        password = secrets.token_urlsafe(12)
        entry = jks.PrivateKeyEntry.new(alias, chain, pkcs8)
        data: bytes = jks.KeyStore.new("jks", [entry]).saves(password)
        return data, password

    def pkcs12(self, alias: str = "client") -> tuple[bytes, str]:
        """A PKCS12 file (certificates encrypted, as keytool writes them) and its password."""
        password = secrets.token_urlsafe(12)
        data = pkcs12.serialize_key_and_certificates(
            alias.encode(),
            self.key,
            self.certificate,
            [self.ca],
            serialization.BestAvailableEncryption(password.encode()),
        )
        return data, password


class HandCa:
    """A root CA that issues the estate's certificates."""

    def __init__(self, common_name: str, organization: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name, organization)
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=3000))
            .not_valid_after(now + timedelta(days=3000))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        days: tuple[int, int] = (-30, 335),
        rsa_bits: int | None = 2048,
        server_auth: bool = False,
        client_auth: bool = True,
        dns: tuple[str, ...] = (),
    ) -> Leaf:
        """A leaf valid from ``days[0]`` to ``days[1]`` days from now."""
        key = _key(rsa_bits)
        now = datetime.now(UTC)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server_auth else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else []
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=days[0]))
            .not_valid_after(now + timedelta(days=days[1]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if dns:
            sans = x509.SubjectAlternativeName([x509.DNSName(d) for d in dns])
            builder = builder.add_extension(sans, critical=False)
        return Leaf(builder.sign(self.key, hashes.SHA256()), key, self.certificate)
