"""What ``plan`` answers: a job's effect on an instance, record by record, and why it would
be refused. Values only (names, sys_ids, fingerprints), never a secret."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from workers.errors import TwowayError

__all__ = [
    "FieldChange",
    "Plan",
    "PlanRefusal",
    "PlannedRecord",
    "ThirdPartyPlan",
    "TrustAnchor",
    "What",
    "refusal_of",
]


What = Literal["keystore", "trust", "profile", "message", "method"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldChange(_Frozen):
    """One field: its value now (None: the record does not exist yet) and after the job."""

    field: str
    before: str | None
    after: str


class PlannedRecord(_Frozen):
    """One record the job would create, change or reuse as it is."""

    what: What
    table: str
    name: str
    sys_id: str = ""
    fields: tuple[FieldChange, ...] = ()
    note: str = ""


class PlanRefusal(_Frozen):
    """A reason the job would be refused (or fail before changing anything)."""

    error: str
    message: str
    hint: str = ""


class TrustAnchor(_Frozen):
    """A CA certificate the third party must trust to accept our client certificate."""

    subject: str
    sha256: str
    source: str


class ThirdPartyPlan(_Frozen):
    """What the third party must install, and how twoway proves it did."""

    ca_profile: str
    adapter: str
    client_certificate: str
    trust: tuple[TrustAnchor, ...] = ()
    trust_note: str = ""
    server_certificate: str
    proof: str
    prove_first: bool


class Plan(_Frozen):
    """``ready`` when nothing refuses; ``creates``/``changes``/``reuses`` in runbook order."""

    ready: bool
    instance: str = ""
    target: str = ""
    refusals: tuple[PlanRefusal, ...] = ()
    creates: tuple[PlannedRecord, ...] = ()
    changes: tuple[PlannedRecord, ...] = ()
    reuses: tuple[PlannedRecord, ...] = ()
    third_party: ThirdPartyPlan | None = None
    notes: tuple[str, ...] = ()


def refusal_of(error: TwowayError) -> PlanRefusal:
    return PlanRefusal(error=type(error).__name__, message=error.message, hint=error.hint)
