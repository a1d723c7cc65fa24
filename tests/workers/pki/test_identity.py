"""load_identity: the key reaches OpenSSL from memory, or from a private file removed at once."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from messages.job import KeyType
from workers.errors import RequestInvalid
from workers.pki import IssuedChain, generate_private_key, identity, load_identity

if TYPE_CHECKING:
    from conftest import Enrollment


def leftovers() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("twoway-tls-*"))


def test_memfd_leaves_nothing_on_disk(enrollment: Enrollment, issued_chain: IssuedChain) -> None:
    before = leftovers()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_identity(context, enrollment.key_pem, issued_chain.all_certs)
    assert leftovers() == before


def test_fallback_file_is_private_and_removed(
    monkeypatch: pytest.MonkeyPatch, enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    seen: list[tuple[int, int]] = []
    original = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: str, *args: object, **kwargs: object) -> None:
        path = Path(certfile)
        seen.append((path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777))
        original(self, certfile)

    monkeypatch.setattr(identity, "_memfd", lambda: None)
    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    before = leftovers()
    load_identity(
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), enrollment.key_pem, issued_chain.all_certs
    )
    assert seen == [(0o600, 0o700)]
    assert leftovers() == before


def test_key_that_does_not_match_the_certificate(issued_chain: IssuedChain) -> None:
    with pytest.raises(RequestInvalid, match="does not match the certificate"):
        load_identity(
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
            generate_private_key(KeyType.EC256),
            issued_chain.all_certs,
        )
