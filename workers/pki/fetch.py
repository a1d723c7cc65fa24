"""Reading the certificate an endpoint presents, to be accepted only against a pin."""

from __future__ import annotations

import socket
import ssl

from workers.errors import CertificateRejected, TransientError

__all__ = ["fetch_server_certificate"]


def fetch_server_certificate(host: str, port: int, *, timeout: float = 10.0) -> bytes:
    """The DER of the leaf certificate ``host:port`` presents, not verified here: the
    caller accepts it only if its SHA-256 is the job's pin."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # trust comes from the pin, checked by the caller
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except OSError as exc:  # ssl.SSLError included
        raise TransientError(
            f"cannot read the server certificate of {host}:{port}: {type(exc).__name__}",
            hint="check that the endpoint is reachable from the workers",
        ) from exc
    if not der:
        raise CertificateRejected(f"{host}:{port} presented no certificate")
    return der
