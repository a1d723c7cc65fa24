"""An embedded CA for demos and tests, kept in a directory and safe across processes.

Layout of ``directory`` (mode 0700)::

    .lock                       fcntl lock: the first process creates, the others load
    root.pem, root.key.sealed   the self-signed root; keys sealed with the Sealer, 0600
    intermediate-N.pem/.sealed  N=1 is signed by the root; the last one signs leaves
    ca.json                     written last: its presence means the CA is complete
    issued/<sha256(key)>.json   the issuance log: one signing per request key
    revoked.json                the revocation list, published as a CRL (local_crl.py)

A CA key is held unsealed in memory only; it never appears in a log or exception.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from messages.job import KeyType
from workers.ca.base import Issued, Pending, Revocation
from workers.ca.local_crl import RevokedSerials, check_online
from workers.errors import CaRejected, ConfigError, RequestInvalid
from workers.pki import Authority, cert_to_pem
from workers.pki.authority import random_suffix
from workers.sealing import SealBroken, Sealer

__all__ = ["LocalCa"]

_MIN_RSA_BITS = 2048
_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


class LocalCa:
    """A root and ``intermediates`` intermediate CAs that sign client certificates at once."""

    synchronous = True
    pollable = False

    def __init__(
        self,
        directory: Path,
        sealer: Sealer,
        *,
        name: str = "twoway-local",
        validity: timedelta = timedelta(days=365),
        intermediates: int = 1,
        key_type: KeyType = KeyType.EC256,
        crl_url: str | None = None,
    ) -> None:
        if intermediates < 0 or validity <= timedelta(0):
            raise ConfigError("a local CA needs intermediates >= 0 and a positive validity")
        self.name = name
        self.directory = Path(directory)
        self.validity = validity
        self.intermediates = intermediates
        self.key_type = key_type
        self.crl_url = crl_url
        self._revoked = RevokedSerials(self.directory)
        self._sealer = sealer
        self._issuer: Authority | None = None

    def __repr__(self) -> str:
        return f"LocalCa({self.name!r}, {str(self.directory)!r})"

    # -- the CA itself -----------------------------------------------------------------

    @staticmethod
    def existing_root_pem(directory: Path) -> bytes | None:
        """The root of a complete CA in ``directory``, read without creating one."""
        directory = Path(directory)
        if not (directory / "ca.json").exists():
            return None
        try:
            return (directory / "root.pem").read_bytes()
        except OSError:
            return None

    @property
    def root_pem(self) -> bytes:
        return cert_to_pem(self._authority().root)

    @property
    def ca_chain_pem(self) -> bytes:
        """The intermediates (the leaf's issuer first), then the root, as PEM."""
        return b"".join(cert_to_pem(cert) for cert in self._authority().chain)

    def _authority(self) -> Authority:
        if self._issuer is None:
            with self._locked():
                self._issuer = self._load() or self._create()
        return self._issuer

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _names(self) -> list[str]:
        return ["root", *(f"intermediate-{n}" for n in range(1, self.intermediates + 1))]

    def _create(self) -> Authority:
        tag = random_suffix()
        ca_validity = max(timedelta(days=3650), self.validity * 2)
        authority = Authority.new_root(
            f"{self.name} Root CA {tag}",
            organization=self.name,
            key_type=self.key_type,
            path_length=self.intermediates,
            validity=ca_validity,
        )
        self._store("root", authority)
        for n in range(1, self.intermediates + 1):
            authority = authority.new_intermediate(
                f"{self.name} Intermediate CA {n} {tag}",
                organization=self.name,
                key_type=self.key_type,
                path_length=self.intermediates - n,
                validity=ca_validity,
            )
            self._store(f"intermediate-{n}", authority)
        manifest = {"name": self.name, "intermediates": self.intermediates}
        _write_atomic(self.directory / "ca.json", json.dumps(manifest).encode())
        return authority

    def _store(self, stem: str, authority: Authority) -> None:
        _write_atomic(self.directory / f"{stem}.pem", cert_to_pem(authority.certificate))
        sealed = self._sealer.seal(authority.private_key_pem())
        _write_atomic(self.directory / f"{stem}.key.sealed", sealed)

    def _load(self) -> Authority | None:
        manifest_path = self.directory / "ca.json"
        if not manifest_path.exists():
            return None
        manifest = json.loads(manifest_path.read_bytes())
        if manifest.get("intermediates") != self.intermediates:
            raise ConfigError(
                f"the local CA in {self.directory} has {manifest.get('intermediates')}"
                f" intermediate(s) but the configuration asks for {self.intermediates}",
                hint="use another directory, or set the configured intermediates to match",
            )
        try:
            return self._load_chain()
        except (OSError, ValueError, SealBroken, RequestInvalid) as exc:
            raise ConfigError(
                f"the local CA in {self.directory} cannot be loaded ({type(exc).__name__})",
                hint="check the master key it was sealed with, or start a new CA directory",
            ) from exc

    def _load_chain(self) -> Authority:
        authority: Authority | None = None
        for stem in self._names():
            certificate = x509.load_pem_x509_certificate(
                (self.directory / f"{stem}.pem").read_bytes()
            )
            key_pem = self._sealer.unseal((self.directory / f"{stem}.key.sealed").read_bytes())
            parents = authority.chain if authority else ()
            authority = Authority(certificate, key_pem, parents=parents)
        assert authority is not None  # _names() always starts with the root
        return authority

    # -- signing -----------------------------------------------------------------------

    def submit(self, csr_pem: bytes, *, request_key: str) -> Issued | Pending:
        """Sign ``csr_pem`` once per ``request_key``; a repeat returns the same certificate."""
        csr = _checked_csr(csr_pem)
        authority = self._authority()
        log_path = self.directory / "issued" / f"{_digest(request_key.encode())}.json"
        with self._locked():
            if log_path.exists():
                return _replay(log_path, csr, request_key)
            leaf = authority.issue(
                csr_pem, csr.subject, sans=_sans(csr), validity=self.validity, crl_url=self.crl_url
            )
            issued = Issued(
                certificate_pem=cert_to_pem(leaf),
                chain_pem=self.ca_chain_pem,
                request_id=format(leaf.serial_number, "x"),
            )
            log_path.parent.mkdir(mode=0o700, exist_ok=True)
            record = {
                "request_key": request_key,
                "csr_tbs_sha256": _digest(csr.tbs_certrequest_bytes),
                "certificate_pem": issued.certificate_pem.decode(),
                "chain_pem": issued.chain_pem.decode(),
                "request_id": issued.request_id,
            }
            _write_atomic(log_path, json.dumps(record).encode())
        return issued

    def poll(self, request_id: str) -> Issued | Pending:
        raise CaRejected(
            f"the local CA '{self.name}' signs at once and has nothing pending",
            hint="resubmit the CSR with the job's request key to get its certificate again",
            request_id=request_id,
        )

    # -- revocation ----------------------------------------------------------------------

    def revoke(self, certificate_pem: bytes, *, reason: str) -> Revocation:
        """Put the certificate on this CA's CRL (again: no change)."""
        check_online(self.directory, self.name)
        serial = self._own_serial(certificate_pem)
        with self._locked():
            contents = self._revoked.contents_with(serial, reason, datetime.now(UTC))
            if contents is not None:
                _write_atomic(self._revoked.path, contents)
        return Revocation("revoked", {"serial": format(serial, "x"), "crl": "local"})

    def revoked(self, certificate_pem: bytes, chain_pem: bytes = b"") -> bool | None:
        check_online(self.directory, self.name)
        return self._revoked.has(self._own_serial(certificate_pem))

    def crl_der(self, *, next_update: timedelta = timedelta(days=7)) -> bytes:
        """The CRL of the CA that signs leaves, signed now (DER)."""
        return self._revoked.crl_der(
            self._authority(), next_update=next_update, now=datetime.now(UTC)
        )

    def _own_serial(self, certificate_pem: bytes) -> int:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        if certificate.issuer != self._authority().certificate.subject:
            raise CaRejected(
                f"the certificate was not issued by the local CA '{self.name}'",
                hint="it can only be revoked by the CA that issued it",
            )
        return certificate.serial_number

    def issued_count(self) -> int:
        """How many certificates this CA has actually signed (across processes)."""
        return len(list((self.directory / "issued").glob("*.json")))


def _replay(log_path: Path, csr: x509.CertificateSigningRequest, request_key: str) -> Issued:
    record = json.loads(log_path.read_bytes())
    if record["csr_tbs_sha256"] != _digest(csr.tbs_certrequest_bytes):
        raise CaRejected(
            f"request key '{request_key}' was already used for a different CSR",
            hint="a job's CSR must not change once it was submitted; use a new job",
            request_id=record["request_id"],
        )
    return Issued(
        certificate_pem=record["certificate_pem"].encode(),
        chain_pem=record["chain_pem"].encode(),
        request_id=record["request_id"],
    )


def _checked_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CaRejected("the request is not a PEM PKCS#10 CSR") from exc
    if not csr.is_signature_valid:
        raise CaRejected("the CSR's signature does not verify: it was altered or is corrupt")
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
        raise CaRejected(f"RSA keys below {_MIN_RSA_BITS} bits are not signed")
    if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(key.curve, _CURVES):
        raise CaRejected(f"EC curve {key.curve.name} is not signed: use P-256 or P-384")
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CaRejected(f"{type(key).__name__} keys are not signed: use RSA or EC")
    if not csr.subject.rdns and not _sans(csr):
        raise CaRejected("the CSR has neither a subject nor a subjectAltName")
    return csr


def _sans(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        return list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a 0600 temp file beside ``path``, fsync, then rename over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    temporary.replace(path)
