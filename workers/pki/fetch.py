"""Reading the certificate an endpoint presents, to be accepted only against a pin."""

from __future__ import annotations

import socket
import ssl

from workers.errors import CertificateRejected

__all__ = ["fetch_server_certificate"]


def fetch_server_certificate(host: str, port: int, *, timeout: float = 10.0) -> bytes:
    """The DER of the leaf certificate ``host:port`` presents, not verified here: the
    caller accepts it only if its SHA-256 is the job's pin. Any failure to read it is one
    ``CertificateRejected`` that does not say why (closed, filtered or not TLS)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # trust comes from the pin, checked by the caller
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError:  # ssl.SSLError included
        # One failure, not retried, and one message whatever the cause: a retried fetch
        # whose errors named refused, reset or timed out would map a network's ports for
        # whoever can submit jobs. The cause is not chained (it would reach the history).
        raise CertificateRejected(
            f"cannot read a server certificate from {host}:{port}",
            hint="check the host, port and pin with the third party and that the workers"
            " can reach it, then resubmit",
        ) from None
    if not der:
        raise CertificateRejected(f"{host}:{port} presented no certificate")
    return der
