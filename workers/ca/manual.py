"""The ``manual`` CA: the job pauses until the CA calls back or an operator resumes it.

Submitting makes no request anywhere: the CSR is already stored with the job, where the
gateway (``GET /v1/jobs/{id}/csr``) and the operator (``twoway status``) find it. The
request id is derived from the job id, so a redelivered ``wait-for-ca`` lands on the same
request and a paused job costs its row and nothing else.
"""

from __future__ import annotations

from workers.ca.base import Issued, Pending

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
