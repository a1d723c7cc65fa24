"""CA adapters: where the pipeline's CSRs get signed."""

from __future__ import annotations

from .base import CaAdapter, Issued, Pending
from .cfssl import CfsslCa
from .local import LocalCa
from .manual import ManualCa

__all__ = ["CaAdapter", "CfsslCa", "Issued", "LocalCa", "ManualCa", "Pending"]
