"""Keys, CSRs, certificates, chains, keystores and mTLS checks: the recipes layer.

Stage cores use these functions and never import ``cryptography.hazmat``, ``jks`` or
``ssl`` themselves. Key material travels as PEM bytes (unencrypted PKCS#8, in memory
only); callers seal it with :class:`workers.sealing.Sealer` before storing it.
"""

from __future__ import annotations

from .authority import Authority, general_names
from .certs import cert_to_der, cert_to_pem, describe, parse_certificates, sha256_fingerprint
from .chain import IssuedChain, check_issued
from .csr import build_csr, subject_name
from .fetch import fetch_server_certificate
from .identity import load_identity
from .keys import generate_private_key, public_key_sha256
from .keystore import KeystoreContents, build_jks, new_keystore_password, open_jks
from .tls import HandshakeResult, mtls_request

__all__ = [
    "Authority",
    "HandshakeResult",
    "IssuedChain",
    "KeystoreContents",
    "build_csr",
    "build_jks",
    "cert_to_der",
    "cert_to_pem",
    "check_issued",
    "describe",
    "fetch_server_certificate",
    "general_names",
    "generate_private_key",
    "load_identity",
    "mtls_request",
    "new_keystore_password",
    "open_jks",
    "parse_certificates",
    "public_key_sha256",
    "sha256_fingerprint",
    "subject_name",
]
