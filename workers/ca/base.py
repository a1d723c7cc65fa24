"""What every CA adapter offers the ``wait-for-ca`` stage, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["REVOCATION_REASONS", "CaAdapter", "Issued", "Pending", "RevocableCa", "Revocation"]

# RFC 5280's reason codes that twoway asks for: a retired certificate was superseded by
# its renewal; a rolled-back or cancelled job's certificate ceased operation.
REVOCATION_REASONS = ("superseded", "cessation_of_operation", "key_compromise", "unspecified")


@dataclass(frozen=True)
class Issued:
    """The CA signed: the leaf, the CA chain (PEM, any order) and the CA's request id."""

    certificate_pem: bytes
    chain_pem: bytes
    request_id: str


@dataclass(frozen=True)
class Pending:
    """The CA accepted the request and will sign later; store ``request_id`` and pause."""

    request_id: str


@runtime_checkable
class CaAdapter(Protocol):
    """A certificate authority the pipeline can submit CSRs to.

    ``submit`` must be idempotent per ``request_key`` (the job's id): a second call with
    the same key never makes a second request at the CA. A ``synchronous`` adapter always
    answers ``Issued``; an asynchronous one answers ``Pending`` and is resumed by a
    callback, an operator, or, when it is ``pollable``, by the poller calling ``poll``.
    Failures are ``CaRejected`` (permanent) or ``CaUnavailable`` (transient), from
    :mod:`workers.errors`.
    """

    name: str
    synchronous: bool
    pollable: bool

    def submit(self, csr_pem: bytes, *, request_key: str) -> Issued | Pending: ...

    def poll(self, request_id: str) -> Issued | Pending: ...


@dataclass(frozen=True)
class Revocation:
    """What a CA made of a revocation request.

    ``revoked``: the CA has revoked it (its CRL or OCSP will say so); ``asked``: a person
    at the CA must do it (the manual CA), and ``detail`` says what to ask for.
    """

    outcome: Literal["revoked", "asked"]
    detail: dict[str, str]


@runtime_checkable
class RevocableCa(Protocol):
    """A CA adapter that can revoke what it issued, and say whether it has.

    ``revoke`` is idempotent (revoking a revoked certificate answers ``revoked``); it
    raises ``CaUnavailable`` when the CA is down (the revocation is retried) and
    ``CaRejected`` when the CA refuses. ``revoked`` answers from the CA's own records,
    CRL or OCSP (``chain_pem``: the CA certificates that came with it, its issuer among
    them): True, False, or None when the CA offers no way to ask.
    """

    def revoke(self, certificate_pem: bytes, *, reason: str) -> Revocation: ...

    def revoked(self, certificate_pem: bytes, chain_pem: bytes) -> bool | None: ...
