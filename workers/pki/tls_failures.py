"""What a failed mTLS handshake means, said precisely enough to act on.

- The third party refused our client certificate: its TLS alert, by the name RFC 8446
  gives it (``unknown_ca``, ``bad_certificate``, ...), and what that alert asks us to do.
- The server's certificate was not accepted: a second, non-verifying handshake fetches the
  certificate the endpoint presents, so the report can say whether it is another
  certificate than the registered one (both fingerprints) or the registered one failing for
  another reason (host name, validity).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections.abc import Sequence

from cryptography import x509

from workers.errors import VerificationFailed
from workers.pki.certs import cert_to_der
from workers.pki.identity import load_identity

__all__ = [
    "CLIENT_HINT",
    "REFUSING_ALERTS",
    "client_refused",
    "presented_certificate",
    "server_not_accepted",
]

CLIENT_HINT = (
    "the third party has not installed client-cert.pem / our CA yet: a job waiting for them"
    " goes on by itself once they have (or say so: partner-installed); after a switch, replay"
    " verify"
)
_EXPIRED_HINT = "check the clocks on both sides; if our certificate has expired, submit a new job"
# OpenSSL's reason for an alert the server sent -> (the alert's name, what to do)
REFUSING_ALERTS: dict[str, tuple[str, str]] = {
    "TLSV1_ALERT_UNKNOWN_CA": ("unknown_ca", CLIENT_HINT),
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": ("certificate_unknown", CLIENT_HINT),
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": (
        "certificate_required",
        "the third party accepts client certificates from other CAs only: " + CLIENT_HINT,
    ),
    "SSLV3_ALERT_BAD_CERTIFICATE": (
        "bad_certificate",
        "the third party finds our certificate unusable (KB0683345): have them check that"
        " client-cert.pem and ca-chain.pem are installed whole; replay verify afterwards",
    ),
    "TLSV1_ALERT_ACCESS_DENIED": (
        "access_denied",
        "the third party trusts our CA but does not let this certificate in: ask them to"
        " allow the subject of client-cert.pem; replay verify afterwards",
    ),
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": (
        "unsupported_certificate",
        "the third party does not accept this kind of certificate (key type or usage):"
        " ask which key types they accept and submit a job with one of them",
    ),
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": ("certificate_expired", _EXPIRED_HINT),
    "SSLV3_ALERT_CERTIFICATE_REVOKED": (
        "certificate_revoked",
        "the CA revoked our certificate: submit a new job for a new one",
    ),
    "TLSV1_ALERT_DECRYPT_ERROR": (
        "decrypt_error",
        "the third party could not check our signature: " + CLIENT_HINT,
    ),
}
_MISMATCH_HINT = (
    "the registered trust certificate differs from what the endpoint presents: confirm the"
    " presented certificate with the third party, then submit a job that registers it (or"
    " the CA that issued it)"
)


def client_refused(host: str, reason: str) -> VerificationFailed:
    """The third party answered our client certificate with a refusing alert."""
    alert, hint = REFUSING_ALERTS.get(reason, ("handshake_failure", CLIENT_HINT))
    return VerificationFailed(
        f"the third party at {host} answered {alert!r} to our client certificate"
        f" (TLS alert {reason})",
        check="client_certificate",
        hint=hint,
    )


def server_not_accepted(
    host_header: str,
    verify_message: str,
    presented: x509.Certificate | None,
    trust: Sequence[x509.Certificate],
) -> VerificationFailed:
    """The endpoint's certificate failed verification against the registered trust."""
    registered = ", ".join(_who(c) for c in trust)
    if presented is None:
        message = (
            f"the server certificate of {host_header} is not accepted ({verify_message});"
            f" the registered trust certificate is {registered}"
        )
        return VerificationFailed(message, check="server_certificate", hint=_MISMATCH_HINT)
    presented_sha = _sha256(presented)
    if any(_sha256(c) == presented_sha for c in trust):
        hint = (
            "use a host name the certificate names in the message's endpoint"
            if "hostname" in verify_message.lower()
            else "the certificate is not valid now: the third party must renew it"
        )
        message = (
            f"{host_header} presents the registered certificate {_who(presented)}, but it"
            f" fails verification: {verify_message}"
        )
        return VerificationFailed(message, check="server_certificate", hint=hint)
    message = (
        f"{host_header} presents another server certificate than the registered one:"
        f" it presents {_who(presented)}; the trust record holds {registered}"
        f" ({verify_message})"
    )
    return VerificationFailed(message, check="server_certificate", hint=_MISMATCH_HINT)


def presented_certificate(
    host: str,
    port: int,
    *,
    private_key_pem: bytes,
    chain: Sequence[x509.Certificate],
    timeout: float,
) -> x509.Certificate | None:
    """The leaf certificate the endpoint presents, fetched without verifying it (or None)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only to read what it presents; never to talk
    load_identity(context, private_key_pem, chain)  # a TLS 1.2 server may insist on it
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError:  # ssl.SSLError included: nothing to show
        return None
    return x509.load_der_x509_certificate(der) if der else None


def _sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert_to_der(cert)).hexdigest()


def _who(cert: x509.Certificate) -> str:
    return f"'{cert.subject.rfc4514_string()}' (SHA-256 {_sha256(cert)})"
