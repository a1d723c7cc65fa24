"""What every CA adapter offers the ``wait-for-ca`` stage, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["CaAdapter", "Issued", "Pending"]


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
