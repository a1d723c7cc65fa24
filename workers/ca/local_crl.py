"""The local CA's revocation list: ``revoked.json`` beside its keys, and the CRL it signs.

``revoked.json`` maps each revoked serial (hex) to when and why; it is rewritten
atomically under the CA's lock, so revocations from several processes all land. The CRL
(DER) is signed by the CA that signs leaves (the last intermediate) and numbered by how
many revocations it holds, so a newer CRL always has a higher number.

A file ``offline`` in the CA's directory makes the CA refuse service as a CA that is down
would (``CaUnavailable``): the failure hook for drills and tests (``twoway`` never
creates it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from workers.ca.base import REVOCATION_REASONS
from workers.errors import CaRejected, CaUnavailable
from workers.pki import Authority

__all__ = ["OFFLINE_MARKER", "RevokedSerials", "check_online", "reason_flag"]

OFFLINE_MARKER = "offline"
_FILE = "revoked.json"


def reason_flag(reason: str) -> x509.ReasonFlags:
    if reason not in REVOCATION_REASONS:
        raise CaRejected(f"revocation reason {reason!r} is not one of {REVOCATION_REASONS}")
    return x509.ReasonFlags[reason]


def check_online(directory: Path, name: str) -> None:
    """``CaUnavailable`` while the CA's ``offline`` marker exists."""
    if (directory / OFFLINE_MARKER).exists():
        raise CaUnavailable(
            f"the local CA '{name}' is offline ({directory / OFFLINE_MARKER} exists)",
            hint="remove the marker to bring it back; waiting work is retried",
        )


class RevokedSerials:
    """The serials a local CA has revoked, kept in ``directory/revoked.json``."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / _FILE

    def read(self) -> dict[str, dict[str, str]]:
        try:
            loaded = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        return dict(loaded)

    def contents_with(self, serial: int, reason: str, at: datetime) -> bytes | None:
        """The file's new contents with ``serial`` added; None when it is there already.

        The caller holds the CA's lock and writes the contents atomically.
        """
        reason_flag(reason)
        entries = self.read()
        key = format(serial, "x")
        if key in entries:
            return None
        entries[key] = {"at": at.isoformat(), "reason": reason}
        return json.dumps(entries, sort_keys=True).encode()

    def has(self, serial: int) -> bool:
        return format(serial, "x") in self.read()

    def crl_der(self, issuer: Authority, *, next_update: timedelta, now: datetime) -> bytes:
        entries = self.read()
        revoked = [
            (
                int(serial, 16),
                datetime.fromisoformat(e["at"]).astimezone(UTC),
                reason_flag(e["reason"]),
            )
            for serial, e in sorted(entries.items())
        ]
        crl = issuer.revocation_list(
            revoked, number=len(revoked) + 1, next_update=next_update, now=now
        )
        return crl.public_bytes(serialization.Encoding.DER)
