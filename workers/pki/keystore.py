"""Java Key Stores as ServiceNow needs them, written and read with pyjks.

One PrivateKeyEntry under the job's alias holding the FULL chain (leaf, intermediates,
root), its key protected by the store password (KB0824494: a different key password makes
the instance send no client certificate), each CA certificate also as a trusted entry
(KB1648222), and optionally the third party's server certificate (KB0696776).

Building is deterministic: entry dates are the leaf's notBefore and the key-protection IV
is derived from the key and the password, so the same inputs give byte-identical stores.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import jks
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]

from workers.errors import CertificateRejected, VerificationFailed
from workers.pki.certs import cert_to_der
from workers.pki.chain import IssuedChain
from workers.pki.keys import load_private_key, spki_der

__all__ = ["KeystoreContents", "build_jks", "new_keystore_password", "open_jks"]

_ALPHABET = string.ascii_letters + string.digits
_PASSWORD_LENGTH = 32  # 62**32 is about 2**190
# 1.3.6.1.4.1.42.2.17.1.1: Sun's JKS key protection (sun.security.provider.KeyProtector)
_SUN_JKS_KEY_PROTECTION_OID = bytes.fromhex("060a2b060104012a021101010500")
_TAMPERED = "Keystore was tampered with, or password was incorrect"
_KEYSTORE_HINT = "use the keystore password stored for this job; the key password must equal it"


@dataclass(frozen=True)
class KeystoreContents:
    """What a JVM finds in a keystore: the key and chain under the alias, trusted certs."""

    private_key_pem: bytes = field(repr=False)
    chain: tuple[x509.Certificate, ...]
    trusted: dict[str, x509.Certificate]


def new_keystore_password() -> str:
    """A random password of letters and digits (keytool and ServiceNow take it as is)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(_PASSWORD_LENGTH))


def build_jks(
    *,
    private_key_pem: bytes,
    chain: IssuedChain,
    alias: str,
    password: str,
    extra_trusted: Sequence[x509.Certificate] = (),
) -> bytes:
    """A JKS with the key and full chain under ``alias`` and the CA certs as trusted entries.

    Trusted aliases: ``<alias>-intermediate-N`` (1 = the leaf's issuer), ``<alias>-root``,
    and ``<alias>-trusted-N`` for ``extra_trusted`` (a certificate already in the store is
    not added twice).
    """
    alias = alias.lower()
    if spki_der(private_key_pem) != spki_der(chain.leaf_pem):
        raise CertificateRejected(
            "keystore: the private key does not belong to the certificate",
            hint="build the keystore with this job's key and the certificate issued for it",
        )
    timestamp = int(chain.leaf.not_valid_before_utc.timestamp()) * 1000
    key_entry = jks.PrivateKeyEntry(
        alias=alias,
        timestamp=timestamp,
        cert_chain=[("X.509", cert_to_der(cert)) for cert in chain.all_certs],
        encrypted=_protect_key(_pkcs8_der(private_key_pem), password),
        store_type="jks",
    )
    entries = [key_entry]
    for trusted_alias, cert in _trusted_entries(alias, chain, extra_trusted):
        entries.append(
            jks.TrustedCertEntry(
                alias=trusted_alias, timestamp=timestamp, cert=cert_to_der(cert), type="X.509"
            )
        )
    data: bytes = jks.KeyStore.new("jks", entries).saves(password)
    return data


def _trusted_entries(
    alias: str, chain: IssuedChain, extra: Sequence[x509.Certificate]
) -> list[tuple[str, x509.Certificate]]:
    out = [(f"{alias}-intermediate-{n}", c) for n, c in enumerate(chain.intermediates, 1)]
    out.append((f"{alias}-root", chain.root))
    seen = {cert_to_der(cert) for cert in chain.all_certs}
    for cert in extra:
        if cert_to_der(cert) not in seen:
            seen.add(cert_to_der(cert))
            out.append((f"{alias}-trusted-{len(seen) - len(chain.all_certs)}", cert))
    return out


def _pkcs8_der(private_key_pem: bytes) -> bytes:
    """The DER inside a PKCS#8 PEM, unwrapped without loading (and re-checking) the key."""
    lines = private_key_pem.strip().splitlines()
    if lines[:1] == [b"-----BEGIN PRIVATE KEY-----"] and lines[-1:] == [
        b"-----END PRIVATE KEY-----"
    ]:
        return base64.b64decode(b"".join(lines[1:-1]), validate=True)
    return load_private_key(private_key_pem).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _protect_key(pkcs8: bytes, password: str) -> bytes:
    """Sun's JKS KeyProtector, with an IV derived from key and password (deterministic).

    The IV is an HMAC under the password, so it reveals nothing the store's own
    password-keyed integrity hash does not; the protection is as weak as JKS's always was.
    """
    secret = password.encode("utf-16-be")
    iv = hmac.digest(secret, b"twoway-jks-iv" + pkcs8, "sha1")
    stream = bytearray()
    digest = iv
    while len(stream) < len(pkcs8):
        digest = hashlib.sha1(secret + digest).digest()  # noqa: S324 - the JKS format's own
        stream += digest
    encrypted = bytes(a ^ b for a, b in zip(pkcs8, stream, strict=False))
    check = hashlib.sha1(secret + pkcs8).digest()  # noqa: S324 - the JKS format's own
    algorithm = _der(0x30, _SUN_JKS_KEY_PROTECTION_OID)
    return _der(0x30, algorithm + _der(0x04, iv + encrypted + check))


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def open_jks(data: bytes, password: str, alias: str) -> KeystoreContents:
    """Load a JKS the way a JVM does: integrity with the store password, then the key.

    Raises ``VerificationFailed`` with ``check`` ``keystore_format``, ``keystore_password``
    (wrong store or key password) or ``keystore_entry`` (no key pair under ``alias``).
    """
    store = _load_store(data, password)
    entry = store.private_keys.get(alias.lower())
    if entry is None:
        present = ", ".join(sorted(store.entries)) or "none"
        raise VerificationFailed(
            f"the keystore has no PrivateKeyEntry under alias '{alias.lower()}'"
            f" (entries: {present})",
            check="keystore_entry",
            hint="the key pair and the signed certificate must share the job's alias",
        )
    try:
        entry.decrypt(password)
        key = serialization.load_der_private_key(
            entry.pkey_pkcs8, password=None, unsafe_skip_rsa_key_validation=True
        )  # the TLS library checks that the key matches the certificate when it loads both
        return KeystoreContents(
            private_key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            chain=tuple(x509.load_der_x509_certificate(der) for _, der in entry.cert_chain),
            trusted={a: x509.load_der_x509_certificate(e.cert) for a, e in store.certs.items()},
        )
    except jks.util.DecryptionFailureException as exc:
        raise VerificationFailed(
            f"Cannot recover key: the key under '{entry.alias}' is not protected by the"
            " store password",
            check="keystore_password",
            hint=_KEYSTORE_HINT,
        ) from exc
    except (jks.util.KeystoreException, PyAsn1Error, ValueError, TypeError) as exc:
        raise _format_error() from exc


def _load_store(data: bytes, password: str) -> jks.KeyStore:
    try:
        return jks.KeyStore.loads(data, password, try_decrypt_keys=False)
    except jks.util.KeystoreSignatureException as exc:
        raise VerificationFailed(_TAMPERED, check="keystore_password", hint=_KEYSTORE_HINT) from exc
    except (jks.util.KeystoreException, PyAsn1Error, ValueError, IndexError) as exc:
        raise _format_error() from exc


def _format_error() -> VerificationFailed:
    return VerificationFailed(
        "Invalid keystore format: the file is not a readable Java Key Store",
        check="keystore_format",
        hint="upload the JKS that the import-chain stage built",
    )
