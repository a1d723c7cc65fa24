"""The third party's mutual-TLS endpoint, for demos and tests: real TLS, no mocks.

It makes its own server identity in memory (a small CA and a leaf for ``hostnames``),
requires a client certificate that chains to one of the client CAs it was given (or that
is itself trusted, as when the third party installs client-cert.pem), and answers every
request with ``200 {"ok": true, "client": "<CN>"}``. One thread per connection.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections import deque
from collections.abc import Sequence
from types import TracebackType

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from messages.job import KeyType
from workers.pki import Authority, cert_to_pem, general_names, generate_private_key
from workers.pki.authority import random_suffix
from workers.pki.identity import load_identity

__all__ = ["ThirdPartyServer"]

_IO_TIMEOUT = 5.0
_MAX_HEAD = 65536


class ThirdPartyServer:
    """An HTTPS server that demands client certificates from the given CAs."""

    def __init__(
        self,
        client_ca_pems: Sequence[bytes],
        *,
        hostnames: Sequence[str] = ("localhost", "127.0.0.1"),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not hostnames:
            raise ValueError("the server needs at least one host name")
        self.hostnames = tuple(hostnames)
        self.host = host
        self._port = port
        authority = Authority.new_root(
            f"twoway third party CA {random_suffix()}", organization="twoway third party"
        )
        key_pem = generate_private_key(KeyType.EC256)
        self._leaf = authority.issue(
            key_pem,
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.hostnames[0])]),
            sans=general_names(self.hostnames),
            extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,),
        )
        self._ca = authority.certificate
        self._authority = authority
        self._key_pem = key_pem
        self._client_pems = list(client_ca_pems)
        self._context = self._new_context(self._client_pems)
        self._lock = threading.Lock()
        self._served = 0
        self._subjects: deque[str] = deque(maxlen=32)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- what a job registers and a client connects to ---------------------------------

    @property
    def server_certificate_pem(self) -> bytes:
        """The server's leaf certificate: what a job registers as the trust certificate."""
        return cert_to_pem(self._leaf)

    @property
    def server_ca_pem(self) -> bytes:
        return cert_to_pem(self._ca)

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the server is not started")
        port: int = self._listener.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"https://{self.hostnames[0]}:{self.port}/api"

    @property
    def requests_served(self) -> int:
        with self._lock:
            return self._served

    @property
    def last_client_subjects(self) -> list[str]:
        """The client certificate subjects (RFC 4514) of the requests served, oldest first."""
        with self._lock:
            return list(self._subjects)

    def trust(self, ca_pem: bytes) -> None:
        """Accept client certificates chaining to ``ca_pem`` too (works while running)."""
        self._client_pems.append(ca_pem)
        self._context.load_verify_locations(cadata=ca_pem.decode("ascii"))

    def rotate_server_certificate(self) -> None:
        """A new server leaf (new key) from the same CA, as partners rotate theirs: served
        from the next connection on."""
        key_pem = generate_private_key(KeyType.EC256)
        self._leaf = self._authority.issue(
            key_pem,
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.hostnames[0])]),
            sans=general_names(self.hostnames),
            extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,),
        )
        self._key_pem = key_pem
        self._context = self._new_context(self._client_pems)

    def trust_only(self, pems: Sequence[bytes]) -> None:
        """From the next connection on, accept only clients under (or equal to) ``pems``."""
        self._client_pems = list(pems)
        self._context = self._new_context(self._client_pems)

    def _new_context(self, client_pems: Sequence[bytes]) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.verify_mode = ssl.CERT_REQUIRED
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        load_identity(context, self._key_pem, (self._leaf, self._ca))
        for pem in client_pems:
            context.load_verify_locations(cadata=pem.decode("ascii"))
        return context

    # -- running -----------------------------------------------------------------------

    def start(self) -> ThirdPartyServer:
        listener = socket.create_server((self.host, self._port))
        listener.settimeout(0.2)
        self._listener = listener
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name="thirdparty", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> ThirdPartyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(_IO_TIMEOUT)
        try:
            with self._context.wrap_socket(connection, server_side=True) as tls:
                if _read_request(tls):
                    tls.sendall(self._answer(tls.getpeercert(binary_form=True)))
        except (ssl.SSLError, OSError):
            pass  # a refused client certificate ends here, as on a real endpoint
        finally:
            connection.close()

    def _answer(self, client_der: bytes | None) -> bytes:
        client = x509.load_der_x509_certificate(client_der) if client_der else None
        names = client.subject.get_attributes_for_oid(NameOID.COMMON_NAME) if client else []
        body = json.dumps({"ok": True, "client": str(names[0].value) if names else ""}).encode()
        with self._lock:
            self._served += 1
            self._subjects.append(client.subject.rfc4514_string() if client else "")
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        return head.encode("ascii") + body


def _read_request(tls: ssl.SSLSocket) -> bool:
    """Read up to the end of the request headers; False when the client went away."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < _MAX_HEAD:
        chunk = tls.recv(4096)
        if not chunk:
            return False
        data += chunk
    return True
