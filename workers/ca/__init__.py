"""CA adapters: where the pipeline's CSRs get signed."""

from __future__ import annotations

from .base import CaAdapter, Issued, Pending
from .local import LocalCa

__all__ = ["CaAdapter", "Issued", "LocalCa", "Pending"]
