"""Builders shared by tests: job requests and throwaway certificates."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CERT", "PEM", "OpensslCa", "good", "self_signed"]


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


_CA_EXTENSIONS = """
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class OpensslCa:
    """A root and an intermediate made with the openssl command line: a CA twoway has
    never heard of, which signs CSRs with ``openssl x509 -req`` as a person would."""

    def __init__(self, directory: Path, *, name: str = "twoway tests") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        tag = secrets.token_hex(3)
        (directory / "ext.cnf").write_text(_CA_EXTENSIONS)
        self._openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "root.key", "-out", "root.pem", "-days", "3650",
            "-subj", f"/O={name}/CN={name} Root {tag}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        self._openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "intermediate.key", "-out", "intermediate.csr",
            "-subj", f"/O={name}/CN={name} Issuing {tag}",
        )  # fmt: skip
        self._openssl(
            "x509", "-req", "-in", "intermediate.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-set_serial", _serial(), "-days", "3650", "-extfile", "ext.cnf",
            "-extensions", "v3_ca", "-out", "intermediate.pem",
        )  # fmt: skip

    @property
    def root_pem(self) -> bytes:
        return (self.directory / "root.pem").read_bytes()

    @property
    def chain_pem(self) -> bytes:
        """Intermediate, then root: what a callback's ``chain`` carries."""
        return (self.directory / "intermediate.pem").read_bytes() + self.root_pem

    def sign(self, csr_pem: bytes, *, days: int = 90) -> bytes:
        """``openssl x509 -req``: the CSR's subject and SANs, EKU clientAuth."""
        result = subprocess.run(
            [
                "openssl", "x509", "-req", "-CA", "intermediate.pem",
                "-CAkey", "intermediate.key", "-set_serial", _serial(), "-days", str(days),
                "-copy_extensions", "copyall", "-extfile", "ext.cnf", "-extensions", "v3_client",
            ],
            input=csr_pem,
            cwd=self.directory,
            capture_output=True,
            check=True,
        )  # fmt: skip
        return result.stdout

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], cwd=self.directory, capture_output=True, check=True)


def _serial() -> str:
    return "0x" + secrets.token_hex(16)
