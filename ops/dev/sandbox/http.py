"""The HTTP/1.1 server: stdlib ``ThreadingHTTPServer`` with keep-alive, so that a
``requests.Session`` reuses its connection, and so that faults can hold an answer back
(slow) or abort the connection with a TCP reset and no answer at all.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from ops.dev.sandbox.app import SandboxApp
from ops.dev.sandbox.wire import Request, Response, parse_query

__all__ = ["HttpServer"]

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: HttpServer

    def version_string(self) -> str:
        return "ServiceNow"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``request_log`` instead."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        body = self._read_body()
        path, _, raw_query = self.path.partition("?")
        request = Request(
            self.command, unquote(path), parse_query(raw_query), raw_query, self.headers, body
        )
        app = self.server.app
        response = app.dispatch(request)
        app.record(request.method, request.path, response.status)
        if response.abort:
            self._reset()
        else:
            self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.status != 204:
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send RST, not FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # drop the makefile reference so that close() is real
        self.connection.close()

    # The stdlib dispatches on these names.
    do_GET = _handle  # noqa: N815
    do_POST = _handle  # noqa: N815
    do_PUT = _handle  # noqa: N815
    do_PATCH = _handle  # noqa: N815
    do_DELETE = _handle  # noqa: N815
    do_HEAD = _handle  # noqa: N815
    do_OPTIONS = _handle  # noqa: N815


class HttpServer(ThreadingHTTPServer):
    """One thread per connection; remembers open connections so ``stop`` can end them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (timeout, reset) is normal; anything else is logged."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        log.exception("sandbox connection from %s failed", client_address)

    def close_connections(self) -> None:
        """Wake every handler blocked on an idle keep-alive connection."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
