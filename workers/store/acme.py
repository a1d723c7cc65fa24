"""What the ``acme`` CA adapter keeps: its accounts (sealed keys) and its orders.

Both are first-writer-wins: two workers that make an account key at once keep the one
that was stored first, and two runs of one job's ``wait-for-ca`` agree on one order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from workers.sealing import Sealer
from workers.store import schema as t
from workers.store.writer import Writer

__all__ = ["AcmeAccount", "AcmeOrder", "AcmeRecords"]


@dataclass(frozen=True)
class AcmeAccount:
    key_pem: bytes
    url: str | None


@dataclass(frozen=True)
class AcmeOrder:
    url: str
    csr_pem: bytes


class AcmeRecords:
    def __init__(self, reader: Engine, writer: Writer, sealer: Sealer) -> None:
        self._reader = reader
        self._writer = writer
        self._sealer = sealer

    def account(self, profile: str, directory: str) -> AcmeAccount | None:
        with self._reader.connect() as conn:
            row = conn.execute(_ACCOUNT, {"p": profile, "d": directory}).first()
        if row is None:
            return None
        return AcmeAccount(key_pem=self._sealer.unseal(row.key), url=row.url)

    def keep_account_key(self, profile: str, directory: str, key_pem: bytes) -> AcmeAccount:
        """Store ``key_pem`` sealed unless a key is stored already; return the stored one."""
        row = {"profile": profile, "directory": directory, "key": self._sealer.seal(key_pem)}
        try:
            with self._writer.begin() as conn:
                conn.execute(insert(_A), {**row, "url": None, "created_at": datetime.now(UTC)})
        except IntegrityError:
            pass
        kept = self.account(profile, directory)
        assert kept is not None, "an account row that was just there is gone"
        return kept

    def set_account_url(self, profile: str, directory: str, url: str) -> None:
        with self._writer.begin() as conn:
            conn.execute(_SET_URL, {"p": profile, "d": directory, "url": url})

    def order(self, profile: str, request_key: str) -> AcmeOrder | None:
        with self._reader.connect() as conn:
            row = conn.execute(_ORDER_BY_KEY, {"p": profile, "k": request_key}).first()
        return AcmeOrder(url=row.url, csr_pem=row.csr.encode()) if row is not None else None

    def order_at(self, profile: str, url: str) -> AcmeOrder | None:
        with self._reader.connect() as conn:
            row = conn.execute(_ORDER_BY_URL, {"p": profile, "u": url}).first()
        return AcmeOrder(url=row.url, csr_pem=row.csr.encode()) if row is not None else None

    def keep_order(self, profile: str, request_key: str, url: str, csr_pem: bytes) -> AcmeOrder:
        """Store the order made for ``request_key`` unless one is; return the stored one."""
        row = {"profile": profile, "request_key": request_key, "url": url, "csr": csr_pem.decode()}
        try:
            with self._writer.begin() as conn:
                conn.execute(insert(_O), {**row, "created_at": datetime.now(UTC)})
        except IntegrityError:
            pass
        kept = self.order(profile, request_key)
        assert kept is not None, "an order row that was just there is gone"
        return kept

    def answered(self, challenge_url: str) -> bool:
        with self._reader.connect() as conn:
            row = conn.execute(_ANSWERED, {"u": challenge_url}).first()
        return row is not None

    def mark_answered(self, profile: str, challenge_url: str) -> None:
        row = {"challenge_url": challenge_url, "profile": profile}
        try:
            with self._writer.begin() as conn:
                conn.execute(insert(_C), {**row, "answered_at": datetime.now(UTC)})
        except IntegrityError:
            pass  # answered twice (a race): once is what is recorded

    def reseal_all(self, sealer: Sealer) -> int:
        """Re-encrypt every account key under ``sealer``'s primary key; returns the count."""
        with self._writer.begin() as conn:
            rows = conn.execute(select(_A.c.profile, _A.c.directory, _A.c.key)).all()
            for row in rows:
                conn.execute(
                    update(_A)
                    .where(and_(_A.c.profile == row.profile, _A.c.directory == row.directory))
                    .values(key=sealer.reseal(row.key))
                )
        self._sealer = sealer
        return len(rows)

    def count_orders(self, profile: str) -> int:
        with self._reader.connect() as conn:
            rows = conn.execute(select(_O.c.url).where(_O.c.profile == profile)).all()
        return len(rows)


_A = t.acme_accounts
_C = t.acme_answers
_O = t.acme_orders
_ACCOUNT = select(_A.c.key, _A.c.url).where(
    and_(_A.c.profile == bindparam("p"), _A.c.directory == bindparam("d"))
)
_SET_URL = (
    update(_A)
    .where(and_(_A.c.profile == bindparam("p"), _A.c.directory == bindparam("d")))
    .values(url=bindparam("url"))
)
_ORDER_BY_KEY = select(_O.c.url, _O.c.csr).where(
    and_(_O.c.profile == bindparam("p"), _O.c.request_key == bindparam("k"))
)
_ORDER_BY_URL = select(_O.c.url, _O.c.csr).where(
    and_(_O.c.profile == bindparam("p"), _O.c.url == bindparam("u"))
)
_ANSWERED = select(_C.c.challenge_url).where(_C.c.challenge_url == bindparam("u"))
