"""Builders shared by tests: job requests and throwaway certificates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CERT", "PEM", "good", "self_signed"]


def self_signed(cn: str = "api.example.test") -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


CERT = self_signed()
PEM = CERT.public_bytes(serialization.Encoding.PEM).decode()


def good() -> dict[str, Any]:
    return {
        "instance": "prod",
        "target": {"kind": "rest", "name": "Payments API"},
        "subject": {"cn": "payments-client", "o": "Acme", "c": "DE"},
        "dns_sans": ["client.acme.example"],
        "key": {"type": "ec256"},
        "ca": {"profile": "corp-issuing"},
        "keystore": {"record_name": "payments client", "alias": "payments"},
        "server_certificate": {"pem": PEM},
        "protocol_profile": {"name": "mauthpayments", "port": 443},
    }
