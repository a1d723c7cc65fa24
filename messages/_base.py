"""The base every twoway message derives from."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Message"]


class Message(BaseModel):
    """Frozen, strict about unknown keys, and versioned.

    A consumer accepts every ``schema_version`` its model lists; a change to a message's
    fields adds a version and keeps the old one for a release.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    schema_version: Literal[1] = 1
