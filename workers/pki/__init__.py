"""Keys, CSRs, certificates, chains, keystores and mTLS checks: the recipes layer.

Stage cores use these functions and never import ``cryptography.hazmat``, ``jks`` or
``ssl`` themselves. Key material travels as PEM bytes (unencrypted PKCS#8, in memory
only); callers seal it with :class:`workers.sealing.Sealer` before storing it.
"""

from __future__ import annotations

from workers.pki.authority import Authority, general_names
from workers.pki.certs import (
    MAX_CERTIFICATE_PEM,
    MAX_CHAIN_PEM,
    cert_to_der,
    cert_to_pem,
    describe,
    issuer_of,
    parse_certificates,
    sha256_fingerprint,
)
from workers.pki.chain import IssuedChain, check_issued
from workers.pki.csr import build_csr, subject_name
from workers.pki.fetch import fetch_server_certificate
from workers.pki.identity import load_identity
from workers.pki.keys import generate_private_key, public_key_sha256
from workers.pki.keystore import KeystoreContents, build_jks, new_keystore_password, open_jks
from workers.pki.keystores import build_keystore, file_extension, open_keystore
from workers.pki.pkcs12 import PKCS12_PROFILE, build_pkcs12, open_pkcs12
from workers.pki.tls import HandshakeResult, mtls_request

__all__ = [
    "MAX_CERTIFICATE_PEM",
    "MAX_CHAIN_PEM",
    "PKCS12_PROFILE",
    "Authority",
    "HandshakeResult",
    "IssuedChain",
    "KeystoreContents",
    "build_csr",
    "build_jks",
    "build_keystore",
    "build_pkcs12",
    "cert_to_der",
    "cert_to_pem",
    "check_issued",
    "describe",
    "fetch_server_certificate",
    "file_extension",
    "general_names",
    "generate_private_key",
    "issuer_of",
    "load_identity",
    "mtls_request",
    "new_keystore_password",
    "open_jks",
    "open_keystore",
    "open_pkcs12",
    "parse_certificates",
    "public_key_sha256",
    "sha256_fingerprint",
    "subject_name",
]
