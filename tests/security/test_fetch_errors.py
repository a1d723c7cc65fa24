"""Item 6 of issue 16: a certificate fetch fails once, with one error that does not tell
an open port from a closed one."""

from __future__ import annotations

import socket

import pytest

from workers.errors import CertificateRejected, PermanentError
from workers.pki import fetch_server_certificate


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed once the socket is


def test_a_closed_and_an_open_non_tls_port_fail_alike() -> None:
    """fetch from a closed port and from an open non-TLS port: the same permanent error"""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        open_port = listener.getsockname()[1]
        messages = []
        for port in (_closed_port(), open_port):
            with pytest.raises(CertificateRejected) as caught:
                fetch_server_certificate("127.0.0.1", port, timeout=1)
            assert isinstance(caught.value, PermanentError)
            messages.append(caught.value.message.replace(str(port), "PORT"))
    assert messages[0] == messages[1]
    assert "Refused" not in messages[0] and "Timeout" not in messages[0]
