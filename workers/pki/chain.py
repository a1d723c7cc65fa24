"""The checks an issued certificate must pass before a job may resume, and the result.

Each failed check raises :class:`workers.errors.CertificateRejected` whose message starts
with the check's name (``public_key``, ``chain``, ``validity``, ``key_usage``, ``subject``,
``subject_alt_name``) and states the facts, so the operator knows what to ask the CA for.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID

from messages.job import SubjectName
from workers.errors import CertificateRejected
from workers.pki.certs import cert_to_der, cert_to_pem, parse_certificates, sha256_fingerprint
from workers.pki.csr import SUBJECT_ATTRIBUTES
from workers.pki.keys import spki_der

__all__ = ["IssuedChain", "check_issued"]

_MAX_DEPTH = 8
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


@dataclass(frozen=True)
class IssuedChain:
    """A verified chain: the leaf, its intermediates (leaf side first) and the root."""

    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    root: x509.Certificate

    @property
    def leaf_pem(self) -> bytes:
        return cert_to_pem(self.leaf)

    @property
    def leaf_der(self) -> bytes:
        return cert_to_der(self.leaf)

    @property
    def ca_chain_pem(self) -> bytes:
        """The intermediates, then the root, as concatenated PEM."""
        return b"".join(cert_to_pem(cert) for cert in (*self.intermediates, self.root))

    @property
    def all_certs(self) -> tuple[x509.Certificate, ...]:
        """Leaf, intermediates, root: the order of a keystore's certificate chain."""
        return (self.leaf, *self.intermediates, self.root)


def check_issued(
    *,
    certificate_pem: bytes,
    chain_pem: bytes,
    csr_pem: bytes,
    subject: SubjectName,
    dns_sans: Sequence[str],
    min_remaining: timedelta,
    now: datetime | None = None,
    trusted_roots: Sequence[bytes] = (),
    subject_keep: Collection[str] | None = None,
) -> IssuedChain:
    """Check an issued certificate and its chain against the request; return the chain.

    ``chain_pem`` may list the CA certificates in any order, and may repeat the leaf. When
    ``trusted_roots`` is given, the chain must end at one of them, and a root missing from
    ``chain_pem`` is taken from there; otherwise the chain must contain its root.

    ``subject_keep`` names the subject attributes (``CN``, ``O``...) the certificate must
    carry as requested; None checks them all. The DNS names are always checked.
    """
    leaf = _one_certificate(certificate_pem)
    _check_public_key(leaf, csr_pem)
    supplied = parse_certificates(chain_pem, what="chain") if chain_pem.strip() else []
    roots = [
        cert
        for pem in trusted_roots  # an operator's root bundle may be long
        for cert in parse_certificates(pem, what="root", limit=None)
    ]
    issued = _build_chain(leaf, supplied, roots)
    _check_validity(issued, min_remaining, now or datetime.now(UTC))
    _check_not_a_ca(leaf)
    _check_key_usage(leaf)
    _check_subject(leaf, subject, subject_keep)
    _check_sans(leaf, dns_sans)
    return issued


def _one_certificate(certificate_pem: bytes) -> x509.Certificate:
    certificates = parse_certificates(certificate_pem, what="certificate")
    if len(certificates) != 1:
        raise CertificateRejected(
            f"certificate: expected one certificate, got {len(certificates)}",
            hint="give the leaf in 'certificate' and the CA certificates in 'chain'",
        )
    return certificates[0]


def _check_public_key(leaf: x509.Certificate, csr_pem: bytes) -> None:
    spki = leaf.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if spki != spki_der(csr_pem):
        raise CertificateRejected(
            f"public_key: the certificate {_name(leaf)} does not carry the CSR's public key",
            hint="the CA signed another request; give the certificate issued for this job's CSR",
        )


def _name(cert: x509.Certificate) -> str:
    return f"'{cert.subject.rfc4514_string()}'"


@functools.lru_cache(maxsize=256)
def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key signed ``cert`` (names and signature). Certificates compare
    by their DER bytes, so an answer holds for good: a CA's chain, the same in every
    callback, is verified once per process."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer and _issued_by(cert, cert)


def _find_issuer(
    cert: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    return next((c for c in candidates if _issued_by(cert, c)), None)


def _build_chain(
    leaf: x509.Certificate, supplied: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]
) -> IssuedChain:
    if _is_self_signed(leaf):
        raise CertificateRejected(
            f"chain: the certificate {_name(leaf)} is self-signed",
            hint="the job needs a certificate signed by the CA",
        )
    candidates = [c for c in (*supplied, *roots) if c != leaf]
    path = [leaf]
    while not _is_self_signed(path[-1]):
        issuer = _find_issuer(path[-1], candidates)
        if issuer is None:
            raise CertificateRejected(_no_issuer_message(path[-1], supplied), hint=_CHAIN_HINT)
        _check_ca(issuer, below=len(path) - 1)
        path.append(issuer)
        candidates.remove(issuer)
        if len(path) > _MAX_DEPTH:
            raise CertificateRejected(f"chain: longer than {_MAX_DEPTH} certificates")
    root = path[-1]
    if roots and root not in roots:
        raise CertificateRejected(
            f"chain: the root {_name(root)} (sha256 {sha256_fingerprint(root)}) is not one of"
            " the trusted roots configured for this CA",
            hint="the certificate comes from another CA; check the CA profile of the job",
        )
    return IssuedChain(leaf=leaf, intermediates=tuple(path[1:-1]), root=root)


_CHAIN_HINT = "give the full chain: every intermediate and the root CA certificate, as PEM"


def _no_issuer_message(cert: x509.Certificate, supplied: Sequence[x509.Certificate]) -> str:
    issuer = cert.issuer.rfc4514_string()
    if any(c.subject == cert.issuer for c in supplied):
        return (
            f"chain: {_name(cert)} names '{issuer}' as issuer, but its signature does not"
            " verify with the certificate of that name in the chain"
        )
    return (
        f"chain: no certificate in the chain issued {_name(cert)} (issuer '{issuer}'); the"
        " chain must run from the leaf through every intermediate to a self-signed root"
    )


def _check_ca(issuer: x509.Certificate, *, below: int) -> None:
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = x509.BasicConstraints(ca=False, path_length=None)
    if not constraints.ca:
        raise CertificateRejected(
            f"chain: {_name(issuer)} signed a certificate in the chain but is not a CA"
            " (basicConstraints CA is not TRUE)",
            hint=_CHAIN_HINT,
        )
    try:
        usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None  # no extension: no restriction (RFC 5280 4.2.1.3)
    if usage is not None and not usage.key_cert_sign:
        raise CertificateRejected(
            f"chain: {_name(issuer)} signed a certificate in the chain but its key usage"
            " lacks keyCertSign",
            hint=_CHAIN_HINT,
        )
    if constraints.path_length is not None and constraints.path_length < below:
        raise CertificateRejected(
            f"chain: {_name(issuer)} allows {constraints.path_length} intermediate(s) below"
            f" it (pathLenConstraint) but the chain has {below}",
        )


def _check_validity(issued: IssuedChain, min_remaining: timedelta, now: datetime) -> None:
    for cert in issued.all_certs:
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        if now < start:
            raise CertificateRejected(
                f"validity: {_name(cert)} is not valid before {start.isoformat()}"
                f" (now {now.isoformat()})",
                hint="check the clocks of this host and the CA",
            )
        if now > end:
            raise CertificateRejected(
                f"validity: {_name(cert)} expired on {end.isoformat()}",
                hint="ask the CA for a certificate (or chain) that is valid now",
            )
    end = issued.leaf.not_valid_after_utc
    if end - now < min_remaining:
        raise CertificateRejected(
            f"validity: the certificate expires on {end.isoformat()}, within the required"
            f" {_span(min_remaining)} of remaining validity",
            hint="ask the CA for a longer validity, or lower the CA profile's min_remaining",
        )


def _span(delta: timedelta) -> str:
    if delta.seconds == 0 and delta.microseconds == 0:
        return f"{delta.days} day(s)"
    return f"{delta.total_seconds():.0f} second(s)"


def _check_not_a_ca(leaf: x509.Certificate) -> None:
    try:
        constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return
    if constraints.ca:
        raise CertificateRejected(
            "basic_constraints: the certificate is a CA certificate (basicConstraints"
            " CA:TRUE); a client certificate must not be one",
            hint="ask the CA for an end-entity TLS client certificate (CA:FALSE)",
        )


def _check_key_usage(leaf: x509.Certificate) -> None:
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    allowed = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if eku is not None and not allowed & set(eku):
        names = ", ".join(_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku) or "none"
        raise CertificateRejected(
            f"key_usage: the certificate's extended key usage ({names}) lacks clientAuth",
            hint="ask the CA for a TLS client certificate (EKU clientAuth)",
        )
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise CertificateRejected(
            "key_usage: the certificate's key usage lacks digitalSignature, which a TLS"
            " client key needs to sign the handshake",
            hint="ask the CA for a TLS client certificate profile",
        )


def _check_subject(
    leaf: x509.Certificate, subject: SubjectName, keep: Collection[str] | None
) -> None:
    differences = []
    for label, oid, field in SUBJECT_ATTRIBUTES:
        if keep is not None and label not in keep:
            continue
        wanted = getattr(subject, field)
        found = [str(attr.value) for attr in leaf.subject.get_attributes_for_oid(oid)]
        if found == ([wanted] if wanted is not None else []):
            continue
        shown = ", ".join(repr(value) for value in found) or "absent"
        differences.append(
            f"subject {label} is {shown} but the request asked for"
            f" {repr(wanted) if wanted is not None else 'none'}"
        )
    if differences:
        raise CertificateRejected(
            "subject: " + "; ".join(differences),
            hint="the CA changed the subject; ask it to issue the DN of the CSR",
        )


def _check_sans(leaf: x509.Certificate, dns_sans: Sequence[str]) -> None:
    if not dns_sans:
        return
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        present = {name.lower().rstrip(".") for name in san.get_values_for_type(x509.DNSName)}
    except x509.ExtensionNotFound:
        present = set()
    missing = [name for name in dns_sans if name.lower().rstrip(".") not in present]
    if missing:
        raise CertificateRejected(
            f"subject_alt_name: DNS name(s) {', '.join(missing)} requested but not in the"
            " certificate's subjectAltName",
            hint="ask the CA to keep the CSR's subjectAltName extension",
        )
