"""``[retention]`` in pipeline.toml: how long what a job leaves behind is kept.

Only jobs that nothing depends on any more are touched:

- a succeeded job whose certificate was replaced by a renewal and whose old keystore
  record was deleted from its instance: its artifacts (the sealed key, keystore and its
  password, CSR, chains) ``artifacts_days`` after the record was retired, its history
  ``history_days`` after (its stage outputs and certificate stay: rollbacks and renewals
  read them);
- a failed job that wrote nothing to an instance, and a cancelled (rolled back) job: its
  artifacts ``ended_days`` after it ended.

A job whose certificate is current, or whose records are on an instance, is never
touched. Each job pruned gets a ``retention_applied`` event saying what was removed.
``None`` keeps that kind of data forever.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RetentionSettings"]

Days = Annotated[float, Field(ge=0, le=36500)]


class RetentionSettings(BaseModel):
    """``[retention]`` in pipeline.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    artifacts_days: Days | None = None
    history_days: Days | None = None
    ended_days: Days | None = None
    batch: Annotated[int, Field(ge=1, le=10_000)] = 500  # jobs per transaction
    every_s: Annotated[float, Field(gt=0, le=86400)] = 3600
