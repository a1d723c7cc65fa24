"""Whether a certificate is revoked, as its CA publishes it: the CRL at its distribution
point, else the OCSP responder in its Authority Information Access.

Only what the issuer signed counts: a CRL whose signature does not verify with the
issuer's key, or an OCSP answer not signed by the issuer (or a responder it delegated
to), proves nothing and is an error. A CA that publishes neither gives ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from workers.errors import CaRejected, CaUnavailable
from workers.pki.certs import parse_certificates

__all__ = ["crl_status", "ocsp_status", "published_status"]

Timeout = tuple[float, float]


def published_status(
    certificate_pem: bytes, chain_pem: bytes, *, timeout: Timeout = (5.0, 15.0)
) -> bool | None:
    """True (revoked) or False by the CRL, else by OCSP; None when neither is named."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    issuer = _issuer_of(certificate, parse_certificates(chain_pem, what="CA chain"))
    urls = _crl_urls(certificate)
    if urls:
        return crl_status(certificate, issuer, urls[0], timeout=timeout)
    responders = _ocsp_urls(certificate)
    if responders:
        return ocsp_status(certificate, issuer, responders[0], timeout=timeout)
    return None


def crl_status(
    certificate: x509.Certificate, issuer: x509.Certificate, url: str, *, timeout: Timeout
) -> bool:
    data = _fetch("GET", url, timeout=timeout)
    try:
        crl = (
            x509.load_pem_x509_crl(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_crl(data)
        )
    except ValueError as exc:
        raise CaRejected(f"{url} did not answer with a CRL") from exc
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise CaRejected(f"the CRL at {url} is not signed by the certificate's issuer")
    return crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None


def ocsp_status(
    certificate: x509.Certificate, issuer: x509.Certificate, url: str, *, timeout: Timeout
) -> bool | None:
    # RFC 6960 responders key certificates by SHA-1 hashes of the issuer (CertID); it is
    # an identifier here, not a signature.
    sha1 = hashes.SHA1()  # noqa: S303
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, sha1)
    body = request.build().public_bytes(serialization.Encoding.DER)
    data = _fetch("POST", url, timeout=timeout, body=body)
    try:
        answer = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise CaRejected(f"{url} did not answer with an OCSP response") from exc
    if answer.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise CaUnavailable(f"the OCSP responder {url} answered {answer.response_status.name}")
    _check_ocsp_signer(answer, issuer, url)
    if answer.serial_number != certificate.serial_number:
        raise CaRejected(f"the OCSP responder {url} answered about another certificate")
    if answer.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
        return None
    return answer.certificate_status is ocsp.OCSPCertStatus.REVOKED


def _check_ocsp_signer(answer: ocsp.OCSPResponse, issuer: x509.Certificate, url: str) -> None:
    signer = issuer
    delegated = [c for c in answer.certificates if c.subject != issuer.subject]
    if delegated:
        signer = delegated[0]
        try:
            signer.verify_directly_issued_by(issuer)
            usage = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound) as exc:
            raise CaRejected(f"the OCSP responder {url} is not delegated by the issuer") from exc
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usage:
            raise CaRejected(f"the OCSP responder {url} is not delegated by the issuer")
    if not _signed_by(signer, answer.signature, answer.tbs_response_bytes, answer):
        raise CaRejected(f"the OCSP answer of {url} is not signed by its responder")


def _signed_by(
    signer: x509.Certificate, signature: bytes, data: bytes, answer: ocsp.OCSPResponse
) -> bool:
    key = signer.public_key()
    algorithm = answer.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _issuer_of(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate]
) -> x509.Certificate:
    for candidate in chain:
        if candidate.subject == certificate.issuer:
            return candidate
    raise CaRejected("the CA chain holds no issuer of the certificate")


def _crl_urls(certificate: x509.Certificate) -> list[str]:
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or []
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


def _ocsp_urls(certificate: x509.Certificate) -> list[str]:
    try:
        access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in access.value
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def _fetch(method: str, url: str, *, timeout: Timeout, body: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/ocsp-request"} if body is not None else {}
    try:
        response = requests.request(method, url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise CaUnavailable(f"{url} cannot be reached ({type(exc).__name__})") from None
    if response.status_code >= 500:
        raise CaUnavailable(f"{url} answered HTTP {response.status_code}")
    if response.status_code != 200:
        raise CaRejected(f"{url} answered HTTP {response.status_code}")
    return response.content
