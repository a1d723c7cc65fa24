"""How uvicorn serves the gateway: bounds on what a client can hold before it is known.

uvicorn's default parser (httptools) has no limit on header size and no deadline for a
request's headers or body, so a stranger could hold memory and connections without ever
sending a token. The gateway therefore runs uvicorn's h11 protocol, whose buffer for an
unfinished request head is bounded (``h11_max_incomplete_event_size``: over it, 400), and
adds a deadline: a request's head and body must arrive within ``request_timeout`` seconds
of its first byte (of the connection, for the first request), or the connection is
answered 408 and closed. ``limit_concurrency`` answers 503 past that many connections;
``timeout_keep_alive`` closes idle keep-alive connections.

Each bound can be changed in the environment (``TWOWAY_GATEWAY_MAX_HEADER_BYTES``,
``TWOWAY_GATEWAY_REQUEST_TIMEOUT``, ``TWOWAY_GATEWAY_MAX_CONNECTIONS``,
``TWOWAY_GATEWAY_KEEP_ALIVE``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import h11
import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BoundedH11Protocol", "request_timeout", "uvicorn_options"]

_log = structlog.get_logger("twoway.gateway")
_TIMEOUT_TEXT = b"the request took too long to send"
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_TEXT), _TIMEOUT_TEXT)
)
_FINISHED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = default
    return value if value > 0 else default


def request_timeout() -> float:
    """Seconds a client has to send one request's head and body."""
    return _number("TWOWAY_GATEWAY_REQUEST_TIMEOUT", 10.0)


def uvicorn_options() -> dict[str, Any]:
    """The keyword arguments the gateway gives ``uvicorn.Config`` / ``uvicorn.run``."""
    return {
        "http": BoundedH11Protocol,
        "h11_max_incomplete_event_size": int(_number("TWOWAY_GATEWAY_MAX_HEADER_BYTES", 65536)),
        "limit_concurrency": int(_number("TWOWAY_GATEWAY_MAX_CONNECTIONS", 512)),
        "timeout_keep_alive": _number("TWOWAY_GATEWAY_KEEP_ALIVE", 5.0),
    }


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head and body."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request on a keep-alive connection begins
        super().data_received(data)
        if self.conn.their_state in _FINISHED:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(request_timeout(), self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}" if self.client else "unknown"
        _log.warning("request_timed_out", client=client, timeout_s=request_timeout())
        if self.cycle is None or not self.cycle.response_started:  # say why we close
            self.transport.write(_TIMED_OUT)
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()
