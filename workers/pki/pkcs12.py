"""PKCS12 Key Stores as ServiceNow needs them, written and read with ``cryptography``.

One key bag under the job's alias (its friendlyName, which a JVM shows as the alias), the
leaf and every CA certificate of the chain (a JVM builds the entry's chain from them), all
under the store password: a PKCS12 file has one password, so the key password equals the
store password by construction (KB0824494).

Encryption profile: PBE-SHA1-3DES for the key and the certificates, an HMAC-SHA1 MAC,
50 000 iterations for the key and certificate bags (the MAC uses cryptography's 2048).
Every JVM reads it: keytool itself wrote PBE-SHA1-3DES keys with an HMAC-SHA1 MAC by
default until Java 8u301 / 11.0.12, whose newer default (PBES2 AES-256-CBC with an
HMAC-SHA256 MAC) older JVMs cannot read. ServiceNow does not publish which Java update
an instance runs, so the profile every release can read wins. Its weakness is the key
derivation's, and twoway's keystore password is random with about 190 bits, so there is
nothing to guess.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from workers.errors import CertificateRejected, VerificationFailed
from workers.pki.chain import IssuedChain
from workers.pki.keys import load_private_key, spki_der
from workers.pki.keystore import KeystoreContents

__all__ = ["PKCS12_PROFILE", "build_pkcs12", "open_pkcs12"]

PKCS12_PROFILE = "PBE-SHA1-3DES key and certificates (50000 iterations), HMAC-SHA1 MAC"
_ROUNDS = 50_000
_HINT = "use the keystore password stored for this job"


def _encryption(password: str) -> serialization.KeySerializationEncryption:
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 - the MAC every JVM reads (see above)
        .build(password.encode())
    )


def build_pkcs12(*, private_key_pem: bytes, chain: IssuedChain, alias: str, password: str) -> bytes:
    """A PKCS12 with the key and the full chain under ``alias`` (lower-cased, as for JKS)."""
    alias = alias.lower()
    if spki_der(private_key_pem) != spki_der(chain.leaf_pem):
        raise CertificateRejected(
            "keystore: the private key does not belong to the certificate",
            hint="build the keystore with this job's key and the certificate issued for it",
        )
    key = load_private_key(private_key_pem)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CertificateRejected("keystore: only RSA and EC keys go into a keystore")
    cas = [
        pkcs12.PKCS12Certificate(cert, f"{alias}-intermediate-{n}".encode())
        for n, cert in enumerate(chain.intermediates, 1)
    ]
    cas.append(pkcs12.PKCS12Certificate(chain.root, f"{alias}-root".encode()))
    return pkcs12.serialize_key_and_certificates(
        alias.encode(),
        key,
        chain.leaf,
        cas,
        _encryption(password),
    )


def open_pkcs12(data: bytes, password: str, alias: str) -> KeystoreContents:
    """Load a PKCS12 as a JVM would: MAC and bags with the password, the key under alias.

    Raises ``VerificationFailed`` with ``check`` ``keystore_format``, ``keystore_password``
    or ``keystore_entry``, as ``open_jks`` does.
    """
    if not data.startswith(b"\x30"):
        raise VerificationFailed(
            "Invalid keystore format: the file is not a PKCS12 Key Store",
            check="keystore_format",
            hint="upload the PKCS12 that the import-chain stage built",
        )
    try:
        loaded = pkcs12.load_pkcs12(data, password.encode())
    except ValueError as exc:
        raise VerificationFailed(
            "keystore password was incorrect (or the PKCS12 is damaged)",
            check="keystore_password",
            hint=_HINT,
        ) from exc
    leaf = loaded.cert
    if loaded.key is None or leaf is None or leaf.friendly_name != alias.lower().encode():
        found = leaf.friendly_name.decode(errors="replace") if leaf and leaf.friendly_name else ""
        raise VerificationFailed(
            f"the keystore has no key entry under alias '{alias.lower()}' (found {found!r})",
            check="keystore_entry",
            hint="the key pair and the signed certificate must share the job's alias",
        )
    others = [c.certificate for c in loaded.additional_certs]
    return KeystoreContents(
        private_key_pem=loaded.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        chain=(leaf.certificate, *_ordered(leaf.certificate, others)),
        trusted={},
    )


def _ordered(leaf: x509.Certificate, others: list[x509.Certificate]) -> list[x509.Certificate]:
    """The CA certificates from the leaf's issuer up, as a JVM builds the entry's chain."""
    chain: list[x509.Certificate] = []
    current, pool = leaf, list(others)
    while True:
        issuer = next((c for c in pool if c.subject == current.issuer), None)
        if issuer is None or issuer in chain:
            return chain
        chain.append(issuer)
        pool.remove(issuer)
        current = issuer
