"""The ``manual`` CA: the job pauses until the CA calls back or an operator resumes it.

Submitting makes no request anywhere: the CSR is already stored with the job, where the
gateway (``GET /v1/jobs/{id}/csr``) and the operator (``twoway status``) find it. The
request id is derived from the job id, so a redelivered ``wait-for-ca`` lands on the same
request and a paused job costs its row and nothing else.

Revoking asks a person: the answer is ``asked`` with what to ask the CA for (serial,
issuer, reason), which becomes a ``revocation_asked`` event and a notification.
"""

from __future__ import annotations

from cryptography import x509

from workers.ca.base import Issued, Pending, Revocation

__all__ = ["ManualCa"]


class ManualCa:
    """Asynchronous and not pollable: only a callback or ``twoway resume`` goes on."""

    synchronous = False
    pollable = False

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ManualCa({self.name!r})"

    def submit(self, csr_pem: bytes, *, request_key: str) -> Issued | Pending:
        return Pending(request_id=f"manual-{request_key}")

    def poll(self, request_id: str) -> Issued | Pending:
        return Pending(request_id=request_id)

    def revoke(self, certificate_pem: bytes, *, reason: str) -> Revocation:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        return Revocation(
            "asked",
            {
                "issuer": certificate.issuer.rfc4514_string(),
                "subject": certificate.subject.rfc4514_string(),
                "not_after": certificate.not_valid_after_utc.isoformat(),
                "what": f"ask the CA '{self.name}' to revoke serial"
                f" {certificate.serial_number:x} (reason: {reason})",
            },
        )

    def revoked(self, certificate_pem: bytes, chain_pem: bytes = b"") -> bool | None:
        return None  # nobody to ask
