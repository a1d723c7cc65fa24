"""Commands about the master key that seals secrets at rest.

Rotation: make a new key (``twoway new-master-key``), set ``TWOWAY_MASTER_KEY=NEW,OLD``
(newest first) everywhere, run ``twoway rotate-master-key``, then drop OLD.
"""

from __future__ import annotations

import argparse
from typing import Any

from ops.cli.output import emit

__all__ = ["register"]


def register(sub: Any) -> None:
    new = sub.add_parser("new-master-key", help="print a new key for TWOWAY_MASTER_KEY")
    new.set_defaults(run=_new_master_key)

    rotate = sub.add_parser(
        "rotate-master-key",
        help="(local: opens the store) re-encrypt every sealed secret under"
        " TWOWAY_MASTER_KEY's first key",
    )
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(run=_rotate)


def _new_master_key(_args: argparse.Namespace) -> int:
    from workers.sealing import Sealer

    print(Sealer.generate_key())
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from workers.config import Settings
    from workers.errors import ConfigError
    from workers.sealing import Sealer
    from workers.store import Store

    sealer = Sealer.from_environment()
    if sealer.key_count < 2:
        raise ConfigError(
            "rotation needs the new key and the old one",
            hint="set TWOWAY_MASTER_KEY=NEW,OLD (newest first), then run this again",
        )
    store = Store(Settings.from_environment().store_url(), sealer)
    try:
        count = store.artifacts.reseal_all(sealer) + store.acme.reseal_all(sealer)
    finally:
        store.close()
    if args.json:
        emit({"resealed": count}, as_json=True)
    else:
        print(f"re-encrypted {count} secrets under the new key; the old key can now be dropped")
    return 0
