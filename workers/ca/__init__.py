"""CA adapters: where the pipeline's CSRs get signed."""

from __future__ import annotations

from workers.ca.base import CaAdapter, Issued, Pending
from workers.ca.cfssl import CfsslCa
from workers.ca.local import LocalCa
from workers.ca.manual import ManualCa

__all__ = ["CaAdapter", "CfsslCa", "Issued", "LocalCa", "ManualCa", "Pending"]
