"""What ``doctor`` answers: one row per check, pass / fail / unknown, with the fix."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Check", "DoctorReport", "Status"]

Status = Literal["pass", "fail", "unknown"]


class Check(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str
    name: str
    status: Status
    detail: str = ""
    fix: str = ""


class DoctorReport(BaseModel):
    """``ok`` when no check fails (an unknown is not a failure, but read its detail)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance: str
    url: str
    user: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)
