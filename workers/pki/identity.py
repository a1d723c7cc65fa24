"""Hand a private key and its chain to an ``ssl.SSLContext`` without writing it to disk.

``SSLContext.load_cert_chain`` only reads files, so the PEM goes into an anonymous memory
file (``memfd_create``) and OpenSSL opens it as ``/proc/self/fd/N``. Only where that is
unavailable does the key touch a 0600 file in a 0700 directory, removed at once.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509

from workers.errors import RequestInvalid
from workers.pki.certs import cert_to_pem

__all__ = ["load_identity"]


def load_identity(
    context: ssl.SSLContext, private_key_pem: bytes, chain: Sequence[x509.Certificate]
) -> None:
    """Give ``context`` a key and certificate chain without writing the key to disk."""
    identity = b"".join(cert_to_pem(cert) for cert in chain) + private_key_pem
    try:
        with _private_path(identity) as path:
            context.load_cert_chain(path)
    except ssl.SSLError as exc:
        raise RequestInvalid(
            "the private key does not match the certificate, or cannot be loaded",
            hint="use the key and chain from the same keystore",
        ) from exc


@contextmanager
def _private_path(content: bytes) -> Iterator[str]:
    """A path to ``content`` that lives in memory (memfd), else in a private temp dir."""
    fd = _memfd()
    if fd is not None:
        try:
            _write_all(fd, content)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="twoway-tls-") as directory:  # mode 0700
        path = Path(directory) / "identity.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, content)
        finally:
            os.close(fd)
        yield str(path)


def _memfd() -> int | None:
    if not hasattr(os, "memfd_create") or not Path("/proc/self/fd").is_dir():
        return None
    try:
        return os.memfd_create("twoway-client-identity", os.MFD_CLOEXEC)
    except OSError:
        return None


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view) :]
