"""Artifacts beside each job: the sealed key, CSR, certificate, chain, keystore and password.

Write-once by default: the first writer wins, so two runs of one stage agree on one key,
one CSR and one keystore. Secret artifacts are sealed before they reach the database.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from ..sealing import Sealer
from . import schema as t

__all__ = ["Artifacts"]


class Artifacts:
    def __init__(self, reader: Engine, writer: Engine, sealer: Sealer) -> None:
        self._reader = reader
        self._writer = writer
        self._sealer = sealer

    def put(
        self, job_id: str, name: str, data: bytes, *, secret: bool = False, replace: bool = False
    ) -> bytes:
        """Store ``data`` under ``name`` unless something is there; return what is stored.

        First writer wins, so two runs of one stage agree on one key, one CSR, one keystore.
        ``replace`` overwrites (replays that must mint anew, and master-key rotation).
        """
        stored = self._sealer.seal(data) if secret else data
        with self._writer.begin() as conn:
            if replace:
                conn.execute(
                    t.artifacts.delete().where(
                        t.artifacts.c.job_id == job_id, t.artifacts.c.name == name
                    )
                )
            exists = conn.execute(
                select(t.artifacts.c.name).where(
                    t.artifacts.c.job_id == job_id, t.artifacts.c.name == name
                )
            ).first()
            if exists is None:
                conn.execute(
                    insert(t.artifacts).values(
                        job_id=job_id,
                        name=name,
                        data=stored,
                        sealed=secret,
                        created_at=datetime.now(UTC),
                    )
                )
        winner = self.get(job_id, name)
        assert winner is not None
        return winner

    def get(self, job_id: str, name: str) -> bytes | None:
        query = select(t.artifacts.c.data, t.artifacts.c.sealed).where(
            t.artifacts.c.job_id == job_id, t.artifacts.c.name == name
        )
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return self._sealer.unseal(row.data) if row.sealed else bytes(row.data)

    def delete(self, job_id: str, names: Collection[str]) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                t.artifacts.delete().where(
                    t.artifacts.c.job_id == job_id, t.artifacts.c.name.in_(list(names))
                )
            )

    def reseal_all(self, sealer: Sealer) -> int:
        """Re-encrypt every sealed artifact under ``sealer``'s primary key; returns the count."""
        count = 0
        with self._writer.begin() as conn:
            rows = conn.execute(
                select(t.artifacts.c.job_id, t.artifacts.c.name, t.artifacts.c.data).where(
                    t.artifacts.c.sealed.is_(True)
                )
            ).all()
            for row in rows:
                conn.execute(
                    update(t.artifacts)
                    .where(t.artifacts.c.job_id == row.job_id, t.artifacts.c.name == row.name)
                    .values(data=sealer.reseal(row.data))
                )
                count += 1
        self._sealer = sealer
        return count
