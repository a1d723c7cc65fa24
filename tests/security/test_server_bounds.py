"""Item 2 of issue 16: what a client can hold before it is known (no token needed).

Against the real gateway process: header size is bounded, a request's head and body must
arrive within the request deadline (1 s here, ``TWOWAY_GATEWAY_REQUEST_TIMEOUT``), and the
gateway's memory does not follow a header flood."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from pathlib import Path

from .conftest import Gateway

FLOOD_CONNECTIONS = 20
FLOOD_BYTES = 8 * 1024 * 1024
SLOW_CONNECTIONS = 300
CLOSE_WITHIN_S = 20.0  # a bound for the loop, far above the 1 s deadline


def _vm(gateway: Gateway, field: str) -> int:
    for line in Path(f"/proc/{gateway.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(field)


def _flood(gateway: Gateway, outcome: list[int]) -> None:
    """Send one request head with an 8 MB header line; record how much was taken."""
    sent = 0
    chunk = b"a" * 65536
    with socket.create_connection((gateway.host, gateway.port), timeout=30) as conn:
        try:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
            while sent < FLOOD_BYTES:
                conn.sendall(chunk)
                sent += len(chunk)
            conn.sendall(b"\r\n\r\n")
            conn.recv(1024)
        except OSError:
            pass  # refused mid-flood: what the bound is for
    outcome.append(sent)


def test_a_header_flood_is_cut_off_and_the_gateway_memory_stays_flat(gateway: Gateway) -> None:
    """20 connections x 8 MB header line: each refused early; gateway RSS stays flat"""
    before = _vm(gateway, "VmRSS")
    sent: list[int] = []
    threads = [
        threading.Thread(target=_flood, args=(gateway, sent)) for _ in range(FLOOD_CONNECTIONS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    peak = _vm(gateway, "VmHWM")
    after = _vm(gateway, "VmRSS")
    print(
        f"\ngateway RSS under the header flood: before {before} KiB,"
        f" peak {peak} KiB, after {after} KiB"
    )
    assert len(sent) == FLOOD_CONNECTIONS
    assert all(n < FLOOD_BYTES for n in sent), "a connection was allowed its whole 8 MB header"
    assert peak - before < 48 * 1024, f"the gateway grew by {(peak - before) // 1024} MB"


def _closed_by_server(conns: list[socket.socket]) -> tuple[int, list[bytes]]:
    """Wait (bounded) until the server closes each connection; return how many it closed
    and the first bytes it answered on each."""
    selector = selectors.DefaultSelector()
    answers: dict[int, bytes] = {}
    for conn in conns:
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ)
    open_ = len(conns)
    deadline = time.monotonic() + CLOSE_WITHIN_S
    while open_ and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            try:
                data = conn.recv(4096)
            except ConnectionResetError:
                data = b""
            if data:
                answers[conn.fileno()] = answers.get(conn.fileno(), b"") + data
                continue
            selector.unregister(conn)
            open_ -= 1
    selector.close()
    return len(conns) - open_, list(answers.values())


def test_unfinished_request_heads_are_closed_at_the_deadline(gateway: Gateway) -> None:
    """300 connections with unfinished headers: each answered 408 and closed"""
    conns = []
    try:
        for _ in range(SLOW_CONNECTIONS):
            conn = socket.create_connection((gateway.host, gateway.port), timeout=10)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            conns.append(conn)
        closed, answers = _closed_by_server(conns)
    finally:
        for conn in conns:
            conn.close()
    assert closed == SLOW_CONNECTIONS, f"{SLOW_CONNECTIONS - closed} still open"
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers) and len(answers) == closed


def test_an_unfinished_body_is_closed_at_the_deadline(gateway: Gateway) -> None:
    """a request body that never finishes: answered 408 and closed"""
    with socket.create_connection((gateway.host, gateway.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/jobs/0/ca-callback HTTP/1.1\r\nHost: x\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":'
        )
        closed, answers = _closed_by_server([conn])
    assert closed == 1
    assert answers and answers[0].startswith(b"HTTP/1.1 408")


def test_a_kept_alive_connection_gets_a_deadline_for_its_next_request(gateway: Gateway) -> None:
    """keep-alive, then a second request head that never finishes: closed"""
    with socket.create_connection((gateway.host, gateway.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = conn.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        closed, _ = _closed_by_server([conn])
    assert closed == 1
