"""Builders shared by tests: job requests and throwaway certificates."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CERT", "PEM", "CfsslServer", "OpensslCa", "good", "self_signed"]


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


_CFSSL_CERTDB = """
CREATE TABLE certificates (
  serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, ca_label blob,
  status blob NOT NULL, reason int, expiry timestamp, revoked_at timestamp, pem blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier));
CREATE TABLE ocsp_responses (
  serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, body blob NOT NULL,
  expiry timestamp, PRIMARY KEY(serial_number, authority_key_identifier));
"""


class CfsslServer:
    """``cfssl serve`` with a test CA (a root, and an intermediate that signs), a profile
    ``client`` that needs authsign with ``auth_key``, a profile ``open`` that does not,
    and a certdb (SQLite) in which every certificate CFSSL signs is a row."""

    usages = ("signing", "digital signature", "key encipherment", "client auth")

    def __init__(self, directory: Path) -> None:
        from messages import KeyType
        from workers.pki import Authority, cert_to_pem

        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        root = Authority.new_root(f"cfssl test root {secrets.token_hex(3)}", path_length=1)
        signer = root.new_intermediate("cfssl test issuing", key_type=KeyType.EC256)
        self.root_pem = cert_to_pem(root.certificate)
        self.signer_pem = cert_to_pem(signer.certificate)
        self.auth_key = secrets.token_hex(16)
        (directory / "root.pem").write_bytes(self.root_pem)
        (directory / "ca.pem").write_bytes(self.signer_pem)
        (directory / "ca-key.pem").write_bytes(signer.private_key_pem())
        (directory / "config.json").write_text(json.dumps(self._config()))
        with sqlite3.connect(directory / "certdb.sqlite3") as db:
            db.executescript(_CFSSL_CERTDB)
        db_config = {"driver": "sqlite3", "data_source": str(directory / "certdb.sqlite3")}
        (directory / "db.json").write_text(json.dumps(db_config))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> dict[str, Any]:
        profile = {"usages": list(self.usages), "expiry": "720h"}
        return {
            "signing": {
                "default": {"usages": list(self.usages), "expiry": "720h"},
                "profiles": {"client": {**profile, "auth_key": "twoway"}, "open": profile},
            },
            "auth_keys": {"twoway": {"type": "standard", "key": self.auth_key}},
        }

    @property
    def root_file(self) -> Path:
        return self.directory / "root.pem"

    def start(self) -> CfsslServer:
        args = ["-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "config.json"]
        self._process = subprocess.Popen(
            ["cfssl", "serve", "-address", "127.0.0.1", "-port", str(self.port), *args,
             "-db-config", "db.json"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "cfssl.log").open("wb"),
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError((self.directory / "cfssl.log").read_text())
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            time.sleep(0.05)
        raise RuntimeError("cfssl serve did not listen within 15 s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def signed(self) -> int:
        """How many certificates CFSSL has signed (rows of its certdb)."""
        with sqlite3.connect(self.directory / "certdb.sqlite3") as db:
            (count,) = db.execute("SELECT count(*) FROM certificates").fetchone()
        return int(count)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
