"""Commands about the master key that seals secrets at rest."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    new = sub.add_parser("new-master-key", help="print a new key for TWOWAY_MASTER_KEY")
    new.set_defaults(run=_new_master_key)


def _new_master_key(_args: argparse.Namespace) -> int:
    from workers.sealing import Sealer

    print(Sealer.generate_key())
    return 0
