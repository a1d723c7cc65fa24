"""One door to both keystore formats: build, open and name a JKS or a PKCS12 by the
job's ``keystore.format``, so stage cores never choose between modules themselves."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from messages import KeystoreFormat
from workers.pki.chain import IssuedChain
from workers.pki.keystore import KeystoreContents, build_jks, open_jks
from workers.pki.pkcs12 import build_pkcs12, open_pkcs12

__all__ = ["build_keystore", "file_extension", "open_keystore"]


def file_extension(fmt: KeystoreFormat) -> str:
    """The attachment's extension: ``jks`` or ``p12``."""
    return "p12" if fmt is KeystoreFormat.PKCS12 else "jks"


def build_keystore(
    fmt: KeystoreFormat,
    *,
    private_key_pem: bytes,
    chain: IssuedChain,
    alias: str,
    password: str,
    extra_trusted: Sequence[x509.Certificate] = (),
) -> bytes:
    """The keystore in ``fmt``. A PKCS12 holds the key and its chain only: the server
    certificate is trusted through its own Trust Store Cert record (KB0696002)."""
    if fmt is KeystoreFormat.PKCS12:
        return build_pkcs12(
            private_key_pem=private_key_pem, chain=chain, alias=alias, password=password
        )
    return build_jks(
        private_key_pem=private_key_pem,
        chain=chain,
        alias=alias,
        password=password,
        extra_trusted=extra_trusted,
    )


def open_keystore(fmt: KeystoreFormat, data: bytes, password: str, alias: str) -> KeystoreContents:
    """Load the keystore as a JVM would (``VerificationFailed`` names what is wrong)."""
    opener = open_pkcs12 if fmt is KeystoreFormat.PKCS12 else open_jks
    return opener(data, password, alias)
