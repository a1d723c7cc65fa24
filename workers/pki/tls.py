"""One mutual-TLS request with exactly a given client identity, as ServiceNow would make it.

The client key reaches OpenSSL without touching the file system (see :mod:`.identity`).
The server is checked against ``trust`` only.

Failures are translated once, here, and worded in :mod:`.tls_failures`:
``VerificationFailed`` with ``check`` = ``server_certificate`` (another certificate than
the registered one, wrong host name, expired), ``client_certificate`` (the server refused
ours: an alert, or an HTTP 400 "No required SSL certificate was sent"; with TLS 1.3 this
arrives on the first read after the handshake), ``tls_handshake`` or ``http_response``;
and ``TransientError`` for refused, reset and timed-out connections.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509

from workers.errors import RequestInvalid, TransientError, TwowayError, VerificationFailed
from workers.pki.certs import cert_to_pem
from workers.pki.identity import load_identity
from workers.pki.tls_failures import (
    CLIENT_HINT,
    REFUSING_ALERTS,
    client_refused,
    presented_certificate,
    server_not_accepted,
)

__all__ = ["HandshakeResult", "mtls_request"]

_NO_CERT_ANSWERS = (b"no required ssl certificate", b"ssl certificate error", b"client certificate")
_MAX_HEAD = 16384


class _ServerNotAccepted(Exception):
    """The server's certificate failed verification (reported once its cert is known)."""

    def __init__(self, verify_message: str) -> None:
        super().__init__(verify_message)
        self.verify_message = verify_message


@dataclass(frozen=True)
class HandshakeResult:
    """What a completed exchange showed: TLS version, cipher, server cert, HTTP status."""

    protocol: str
    cipher: str
    server_sha256: str
    status_code: int


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    path: str
    host_header: str


def mtls_request(
    url: str,
    *,
    private_key_pem: bytes,
    chain: Sequence[x509.Certificate],
    trust: Sequence[x509.Certificate],
    timeout: float = 10.0,
    method: str = "GET",
) -> HandshakeResult:
    """Connect to ``url`` presenting ``chain``, verify the server, read the status line."""
    target = _parse_url(url)
    context = _client_context(private_key_pem, chain, trust)
    try:
        raw = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise _transient(target, "cannot connect", exc) from exc
    with raw:
        try:
            tls = _handshake(context, raw, target)
        except _ServerNotAccepted as exc:
            identity = (private_key_pem, chain)
            raise _not_accepted(target, exc.verify_message, identity, trust, timeout) from exc
        with tls:
            protocol, cipher = tls.version() or "", (tls.cipher() or ("",))[0]
            server_der = tls.getpeercert(binary_form=True) or b""
            status, head = _exchange(tls, target, method, protocol)
    if status == 400 and any(marker in head.lower() for marker in _NO_CERT_ANSWERS):
        raise VerificationFailed(
            f"{target.host_header} answered HTTP 400: no required SSL certificate was sent"
            " (the server did not accept our client certificate)",
            check="client_certificate",
            hint=CLIENT_HINT,
        )
    return HandshakeResult(protocol, cipher, hashlib.sha256(server_der).hexdigest(), status)


def _not_accepted(
    target: _Target,
    verify_message: str,
    identity: tuple[bytes, Sequence[x509.Certificate]],
    trust: Sequence[x509.Certificate],
    timeout: float,
) -> VerificationFailed:
    """Say what the endpoint presents instead of what was registered (a second look)."""
    presented = presented_certificate(
        target.host, target.port, private_key_pem=identity[0], chain=identity[1], timeout=timeout
    )
    return server_not_accepted(target.host_header, verify_message, presented, trust)


def _parse_url(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise RequestInvalid(f"endpoint {url!r} is not an https:// URL with a host")
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise RequestInvalid(f"endpoint {url!r} has an invalid port") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.hostname if port == 443 else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:
        host_header = f"[{parts.hostname}]" + ("" if port == 443 else f":{port}")
    return _Target(parts.hostname, port, path, host_header)


def _client_context(
    private_key_pem: bytes, chain: Sequence[x509.Certificate], trust: Sequence[x509.Certificate]
) -> ssl.SSLContext:
    if not trust:
        raise RequestInvalid("no trust certificate given: the server cannot be verified")
    if not chain:
        raise RequestInvalid("no client certificate given")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata="".join(cert_to_pem(c).decode() for c in trust))
    load_identity(context, private_key_pem, chain)
    return context


def _handshake(context: ssl.SSLContext, raw: socket.socket, target: _Target) -> ssl.SSLSocket:
    try:
        return context.wrap_socket(raw, server_hostname=target.host)
    except ssl.SSLCertVerificationError as exc:
        raise _ServerNotAccepted(str(exc.verify_message or exc)) from exc
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
        raise _transient(target, "the endpoint closed the TLS handshake", exc) from exc
    except ssl.SSLError as exc:
        raise _tls_error(target, exc) from exc
    except OSError as exc:
        raise _transient(target, "the TLS handshake failed", exc) from exc


def _exchange(tls: ssl.SSLSocket, target: _Target, method: str, protocol: str) -> tuple[int, bytes]:
    request = (
        f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"
        "User-Agent: twoway-verify\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    try:
        tls.sendall(request.encode("ascii"))
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError) as exc:
        _raise_pending_alert(tls, target)  # the reason may wait in the receive buffer
        raise _closed(target, protocol, exc) from exc
    except ssl.SSLError as exc:
        raise _tls_error(target, exc) from exc
    except OSError as exc:
        raise _transient(target, "sending the request failed", exc) from exc
    try:
        head = _read_head(tls)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError) as exc:
        raise _closed(target, protocol, exc) from exc
    except ssl.SSLError as exc:
        raise _tls_error(target, exc) from exc
    except OSError as exc:
        raise _transient(target, "reading the answer failed", exc) from exc
    if not head:
        raise _closed(target, protocol, None)
    return _status(head, target), head


def _raise_pending_alert(tls: ssl.SSLSocket, target: _Target) -> None:
    try:
        tls.recv(1)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        return
    except ssl.SSLError as exc:
        raise _tls_error(target, exc) from exc
    except OSError:
        return


def _closed(target: _Target, protocol: str, exc: OSError | None) -> TwowayError:
    """The server hung up before answering. After a TLS 1.3 handshake (where the server
    checks our certificate only after we finished) that means it refused our certificate."""
    if protocol == "TLSv1.3":
        return VerificationFailed(
            f"{target.host_header} closed the connection right after the TLS 1.3 handshake"
            " without answering: it most likely refused our client certificate",
            check="client_certificate",
            hint=CLIENT_HINT,
        )
    cause = exc if exc is not None else ConnectionError("closed")
    return _transient(target, "the endpoint closed the connection without answering", cause)


def _read_head(tls: ssl.SSLSocket) -> bytes:
    """The status line and headers; for a 400 also its body (the reason is there)."""
    data = b""
    while len(data) < _MAX_HEAD:
        head, separator, body = data.partition(b"\r\n\r\n")
        if separator and (head.split(b" ", 2)[1:2] != [b"400"] or len(body) >= _length(head)):
            break
        chunk = tls.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return _MAX_HEAD


def _status(head: bytes, target: _Target) -> int:
    line = head.split(b"\r\n", 1)[0].split()
    if len(line) < 2 or not line[0].startswith(b"HTTP/1.") or not line[1].isdigit():
        raise VerificationFailed(
            f"{target.host_header} completed the TLS handshake but did not answer HTTP/1.x",
            check="http_response",
            hint="check the endpoint URL: host, port and path of the third party's API",
        )
    return int(line[1])


def _tls_error(target: _Target, exc: ssl.SSLError) -> VerificationFailed:
    reason = str(getattr(exc, "reason", "") or "")
    if reason in REFUSING_ALERTS:
        return client_refused(target.host_header, reason)
    return VerificationFailed(
        f"the TLS handshake with {target.host_header} failed ({reason or type(exc).__name__})",
        check="tls_handshake",
        hint="compare TLS versions and ciphers with the third party; with TLS 1.2 a"
        " handshake_failure can also mean that it refused our client certificate",
    )


def _transient(target: _Target, what: str, exc: OSError) -> TransientError:
    detail = type(exc).__name__
    if isinstance(exc, ssl.SSLError) and exc.reason:
        detail = exc.reason
    return TransientError(
        f"{what} with {target.host}:{target.port} ({detail})",
        hint="check that the endpoint is up and reachable from the workers; retried",
    )
