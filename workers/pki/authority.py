"""An in-memory certificate authority that makes certificates the right way (like trustme).

Roots are self-signed with CA:TRUE and a path length, keyCertSign/cRLSign, SKI and AKI;
intermediates hang below them; leaves carry the key usages TLS clients and servers check.
:class:`workers.ca.local.LocalCa` persists one of these; the demo third-party server and
the tests use it directly.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from messages.job import KeyType
from workers.pki.keys import generate_private_key, load_private_key, spki_der

__all__ = ["Authority", "general_names", "random_suffix"]

CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
BACKDATE = timedelta(minutes=5)


def general_names(names: Sequence[str]) -> list[x509.GeneralName]:
    """DNS names as ``DNSName`` and IP literals as ``IPAddress`` (clients check the right one)."""
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def random_suffix() -> str:
    """A short random tag for CA names, so two test CAs never share a subject."""
    return secrets.token_hex(4)


class Authority:
    """A CA certificate with its key; ``parents`` are its issuers, root last."""

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key_pem: bytes,
        *,
        parents: Sequence[x509.Certificate] = (),
    ) -> None:
        self.certificate = certificate
        self.parents = tuple(parents)
        self._key_pem = private_key_pem
        self._key = load_private_key(private_key_pem)

    def __repr__(self) -> str:
        return f"Authority({self.certificate.subject.rfc4514_string()!r})"

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """This CA's certificate, then its issuers up to the root."""
        return (self.certificate, *self.parents)

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1]

    def private_key_pem(self) -> bytes:
        """The CA key (PKCS#8 PEM), for sealing it at rest; never log it."""
        return self._key_pem

    @classmethod
    def new_root(
        cls,
        common_name: str,
        *,
        organization: str | None = None,
        key_type: KeyType = KeyType.EC256,
        path_length: int | None = None,
        validity: timedelta = timedelta(days=3650),
        now: datetime | None = None,
    ) -> Authority:
        """A self-signed root CA."""
        key_pem = generate_private_key(key_type)
        name = _ca_name(common_name, organization)
        start = (now or datetime.now(UTC)) - BACKDATE
        builder = _ca_builder(name, name, key_pem, path_length, start, start + validity)
        key = load_private_key(key_pem)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        return cls(builder.sign(key, _hash_for(key)), key_pem)

    def new_intermediate(
        self,
        common_name: str,
        *,
        organization: str | None = None,
        key_type: KeyType = KeyType.EC256,
        path_length: int | None = 0,
        validity: timedelta = timedelta(days=3650),
        now: datetime | None = None,
    ) -> Authority:
        """An intermediate CA signed by this one (validity clamped to ours)."""
        key_pem = generate_private_key(key_type)
        start = (now or datetime.now(UTC)) - BACKDATE
        end = min(start + validity, self.certificate.not_valid_after_utc)
        name = _ca_name(common_name, organization)
        builder = _ca_builder(name, self.certificate.subject, key_pem, path_length, start, end)
        certificate = self._sign(builder)
        return Authority(certificate, key_pem, parents=self.chain)

    def issue(
        self,
        public_key_pem: bytes,
        subject: x509.Name,
        *,
        sans: Sequence[x509.GeneralName] = (),
        extended_key_usage: Sequence[x509.ObjectIdentifier] | None = (CLIENT_AUTH,),
        validity: timedelta = timedelta(days=365),
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        now: datetime | None = None,
        crl_url: str | None = None,
    ) -> x509.Certificate:
        """An end-entity certificate for the public key in ``public_key_pem``.

        ``public_key_pem`` may be a key, CSR or certificate PEM. ``extended_key_usage=None``
        leaves the extension out. The validity never reaches past this CA's own.
        ``crl_url``: where this CA's CRL is published (a CRL distribution point).
        """
        public_key = serialization.load_der_public_key(spki_der(public_key_pem))
        moment = now or datetime.now(UTC)
        start = not_before or moment - min(BACKDATE, validity / 10)  # short-lived: less
        end = not_after or min(moment + validity, self.certificate.not_valid_after_utc)
        builder = (
            _base_builder(subject, self.certificate.subject, start, end)
            .public_key(public_key)  # type: ignore[arg-type]
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(isinstance(public_key, rsa.RSAPublicKey)), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)  # type: ignore[arg-type]
        )
        if extended_key_usage is not None:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False
            )
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(list(sans)), critical=not subject.rdns
            )
        if crl_url:
            point = x509.DistributionPoint(
                [x509.UniformResourceIdentifier(crl_url)], None, None, None
            )
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        return self._sign(builder)

    def revocation_list(
        self,
        revoked: Sequence[tuple[int, datetime, x509.ReasonFlags]],
        *,
        number: int,
        next_update: timedelta = timedelta(days=7),
        now: datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """This CA's CRL: ``revoked`` as (serial, when, reason), signed with its key."""
        moment = now or datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(moment - timedelta(minutes=1))
            .next_update(moment + next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        for serial, at, reason in revoked:
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(at)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
            builder = builder.add_revoked_certificate(entry)
        return builder.sign(self._key, _hash_for(self._key))

    def _sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
            critical=False,
        )
        return builder.sign(self._key, _hash_for(self._key))


def _ca_name(common_name: str, organization: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _base_builder(
    subject: x509.Name, issuer: x509.Name, start: datetime, end: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key_pem: bytes,
    path_length: int | None,
    start: datetime,
    end: datetime,
) -> x509.CertificateBuilder:
    public_key = load_private_key(key_pem).public_key()
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        _base_builder(subject, issuer, start, end)
        .public_key(public_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _leaf_key_usage(rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _hash_for(key: object) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()
