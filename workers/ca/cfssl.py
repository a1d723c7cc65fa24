"""A CFSSL server as the CA: its ``sign`` API, or ``authsign`` when an HMAC key is set.

CFSSL signs at once, so ``wait-for-ca`` never pauses for it. CFSSL has no idempotency
key: what keeps a redelivered ``wait-for-ca`` from asking twice is the stage itself (the
certificate is stored before the stage completes, and a stored certificate is reused)
and the runtime's per-job lease. One gap remains and cannot be closed from this side: a
worker that dies after CFSSL signed and before the certificate was stored, or a sign
request that timed out after CFSSL signed, makes the retry sign again. The first
certificate is then never used; CFSSL's certdb lists both.

The CA chain handed on with each certificate is the profile's ``chain_file``, else the
signer's certificate from CFSSL's ``info`` API followed by the profile's trusted roots.

Revoking goes through CFSSL's ``revoke`` API (it needs ``cfssl serve -db-config``: the
certdb), by decimal serial and authority key id. CFSSL 1.2 records an empty authority
key id for what it signs, so a "certificate not found" for the certificate's own key id
is asked again with the empty one. Whether CFSSL revoked one behind our back is read from
the certificate's CRL distribution point or OCSP responder, when it names one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from typing import Any

import requests
from cryptography import x509

from workers.ca.base import Issued, Pending, Revocation
from workers.errors import CaRejected, CaUnavailable, ConfigError
from workers.pki.revocation_status import published_status

__all__ = ["CfsslCa"]

_API = "/api/v1/cfssl/"


class CfsslCa:
    """Signs through CFSSL's HTTP API with one session and a timeout on every call."""

    synchronous = True
    pollable = False

    def __init__(
        self,
        name: str,
        url: str,
        *,
        profile: str | None = None,
        label: str | None = None,
        auth_key_hex: str | None = None,
        chain_pem: bytes | None = None,
        extra_roots: tuple[bytes, ...] = (),
        timeout: tuple[float, float] = (5.0, 30.0),
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.profile = profile
        self.label = label
        self._auth_key = _hex_key(name, auth_key_hex) if auth_key_hex is not None else None
        self._chain = chain_pem
        self._extra_roots = extra_roots
        self._timeout = timeout
        self._session = requests.Session()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CfsslCa({self.name!r}, {self.url!r})"

    def submit(self, csr_pem: bytes, *, request_key: str) -> Issued | Pending:
        """Have CFSSL sign ``csr_pem`` (``request_key`` cannot be passed on: see above)."""
        request = json.dumps(self._selector({"certificate_request": csr_pem.decode()})).encode()
        if self._auth_key is None:
            result = self._call("sign", request)
        else:
            token = hmac.new(self._auth_key, request, hashlib.sha256).digest()
            wrapped = {"token": _b64(token), "request": _b64(request)}
            result = self._call("authsign", json.dumps(wrapped).encode())
        certificate = _certificate_in(result, what="sign")
        serial = format(x509.load_pem_x509_certificate(certificate).serial_number, "x")
        return Issued(certificate_pem=certificate, chain_pem=self.chain_pem(), request_id=serial)

    def poll(self, request_id: str) -> Issued | Pending:
        raise CaRejected(
            f"the CFSSL CA '{self.name}' signs at once and has nothing pending",
            hint="replay stage 'wait-for-ca' to have it sign the job's CSR",
            request_id=request_id,
        )

    def revoke(self, certificate_pem: bytes, *, reason: str) -> Revocation:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        serial = str(certificate.serial_number)
        body = {"serial": serial, "reason": reason.replace("_", "")}
        try:
            self._call(
                "revoke", json.dumps({**body, "authority_key_id": _aki(certificate)}).encode()
            )
        except CaRejected as exc:
            if "not found" not in exc.message:
                raise
            self._call("revoke", json.dumps({**body, "authority_key_id": ""}).encode())
        return Revocation("revoked", {"serial": format(certificate.serial_number, "x")})

    def revoked(self, certificate_pem: bytes, chain_pem: bytes = b"") -> bool | None:
        chain = chain_pem or self.chain_pem()
        return published_status(certificate_pem, chain, timeout=self._timeout)

    def chain_pem(self) -> bytes:
        """The CA certificates that go with each leaf (asked of CFSSL once, then kept)."""
        with self._lock:
            if self._chain is None:
                info = self._call("info", json.dumps(self._selector({})).encode())
                signer = _certificate_in(info, what="info")
                self._chain = b"\n".join([signer.strip(), *(r.strip() for r in self._extra_roots)])
            return self._chain

    def _selector(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.profile:
            body["profile"] = self.profile
        if self.label:
            body["label"] = self.label
        return body

    def _call(self, endpoint: str, body: bytes) -> dict[str, Any]:
        url = self.url + _API + endpoint
        try:
            response = self._session.post(
                url, data=body, headers={"Content-Type": "application/json"}, timeout=self._timeout
            )
        except requests.Timeout as exc:
            raise CaUnavailable(
                f"CFSSL at {self.url} did not answer {endpoint} within {self._timeout[1]:g} s",
                hint="check the CFSSL server; the stage is retried",
            ) from exc
        except requests.RequestException as exc:
            raise CaUnavailable(
                f"CFSSL at {self.url} cannot be reached ({type(exc).__name__})",
                hint="check that 'cfssl serve' runs there; the stage is retried",
            ) from exc
        return _result(response, endpoint)


def _result(response: requests.Response, endpoint: str) -> dict[str, Any]:
    """CFSSL's envelope ``{success, result, errors, messages}``, with errors translated."""
    try:
        envelope = response.json()
    except ValueError:
        envelope = None
    status = response.status_code
    if not isinstance(envelope, dict):
        kind = CaUnavailable if status >= 500 or status == 429 else CaRejected
        raise kind(f"CFSSL answered {endpoint} with HTTP {status} and no CFSSL envelope")
    errors = envelope.get("errors") or []
    said = "; ".join(f"{e.get('code')} {e.get('message')}" for e in errors if isinstance(e, dict))
    if status >= 500 or status == 429:
        raise CaUnavailable(f"CFSSL failed {endpoint} (HTTP {status}): {said or 'no reason'}")
    result = envelope.get("result")
    if status == 200 and envelope.get("success") is True and isinstance(result, dict):
        return result
    codes = [e.get("code") for e in errors if isinstance(e, dict)]
    raise CaRejected(f"CFSSL refused {endpoint}: {said or f'HTTP {status}'}", hint=_hint(codes))


def _hint(codes: list[Any]) -> str:
    if 400 in codes:
        return "check auth_key_env: CFSSL's profile needs authsign with its auth_keys key"
    if any(isinstance(c, int) and 5000 <= c < 6000 for c in codes):
        return "check the CA profile's 'profile' and 'label' against CFSSL's signing config"
    if any(isinstance(c, int) and 9000 <= c < 10000 for c in codes):
        return "CFSSL could not use the CSR; replay stage 'csr' after checking the request"
    return "see CFSSL's log for the request; fix the CA profile or the job, then replay"


def _certificate_in(result: dict[str, Any], *, what: str) -> bytes:
    certificate = result.get("certificate")
    if not isinstance(certificate, str) or "-----BEGIN CERTIFICATE-----" not in certificate:
        raise CaRejected(f"CFSSL's {what} answer holds no PEM certificate")
    return certificate.encode()


def _aki(certificate: x509.Certificate) -> str:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return ""
    return (extension.value.key_identifier or b"").hex()


def _hex_key(name: str, value: str) -> bytes:
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        key = b""
    if not key:
        raise ConfigError(
            f"the auth key of CFSSL CA profile {name!r} is not a hex string",
            hint="set it to the hex 'key' of the matching auth_keys entry of CFSSL's config",
        )
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
