"""Artifacts beside each job: the sealed key, CSR, certificate, chain, keystore and password.

Write-once by default: the first writer wins, so two runs of one stage agree on one key,
one CSR and one keystore. Secret artifacts are sealed before they reach the database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, select, update

from workers.errors import StateConflict
from workers.sealing import Sealer
from workers.store import schema as t
from workers.store.statements import (
    DELETE_ARTIFACTS_NAMED,
    INSERT_ARTIFACT,
    SELECT_ARTIFACT,
    SELECT_ARTIFACT_NAMES,
    SELECT_ARTIFACTS,
)
from workers.store.writer import Writer

__all__ = ["Artifact", "Artifacts", "write_artifacts_in"]


class Artifact(StrEnum):
    """The name of each artifact a stage keeps beside its job, and which stage makes it."""

    PRIVATE_KEY = "private_key"  # generate (sealed)
    CSR = "csr"  # csr
    CERTIFICATE = "certificate"  # wait-for-ca: the leaf, PEM
    ISSUED_CHAIN = "issued_chain"  # wait-for-ca: what the CA gave with it, PEM
    SERVER_CERTIFICATE = "server_certificate"  # import-chain, when fetched (DER)
    KEYSTORE = "keystore"  # import-chain (sealed)
    KEYSTORE_PASSWORD = "keystore_password"  # noqa: S105 (a name) import-chain, sealed
    KEYSTORE_CERTIFICATE = "keystore_certificate"  # import-chain: the leaf the keystore holds
    CLIENT_CERT_PEM = "client_cert_pem"  # import-chain: for the third party
    CLIENT_CERT_DER = "client_cert_der"  # import-chain: for the third party
    CA_CHAIN_PEM = "ca_chain_pem"  # import-chain: for the third party
    PROFILE_BEFORE = "profile_before"  # create-profile: the instance before the job
    TRUST_BEFORE = "trust_before"  # register-trust: the instance before the job
    PREVIOUS_VALUES = "previous_values"  # enable: the message and methods before the job
    PREVIOUS_PROFILE_NAMES = "previous_profile_names"  # enable: the profiles they used, named


class Artifacts:
    def __init__(self, reader: Engine, writer: Writer, sealer: Sealer) -> None:
        self._reader = reader
        self._writer = writer
        self._sealer = sealer

    def put_all(
        self, job_id: str, values: Mapping[str, bytes], *, secret: bool = False
    ) -> dict[str, bytes]:
        """Store each value under its name unless something is there, all in one
        transaction: all of them are stored or none (what belongs together, like a
        certificate and its chain, is never half there). Returns what is stored under each
        name: first writer wins, so two runs of one stage agree on what they keep. (What a
        run replaces goes with its outcome: ``write_artifacts_in``.)"""
        kept: dict[str, bytes] = {}
        with self._writer.begin() as conn:
            for name, data in values.items():
                there = conn.execute(SELECT_ARTIFACT, {"job_id": job_id, "name": name}).first()
                if there is None:
                    self._insert(conn, job_id, name, data, secret)
                    kept[name] = data
                else:
                    kept[name] = self.open(there.data, there.sealed)
        return kept

    def _insert(self, conn: Connection, job_id: str, name: str, data: bytes, secret: bool) -> None:
        stored = self.seal(data) if secret else data
        row = {"job_id": job_id, "name": name, "data": stored, "sealed": secret}
        conn.execute(INSERT_ARTIFACT, {**row, "created_at": datetime.now(UTC)})

    def seal(self, data: bytes) -> bytes:
        return self._sealer.seal(data)

    def get(self, job_id: str, name: str) -> bytes | None:
        with self._reader.connect() as conn:
            row = conn.execute(SELECT_ARTIFACT, {"job_id": job_id, "name": name}).first()
        return None if row is None else self.open(row.data, row.sealed)

    def stored_for(self, job_id: str) -> dict[str, tuple[bytes, bool]]:
        """Every artifact of the job as stored (``data, sealed``), in one query; ``open``
        gives a value's plaintext."""
        with self._reader.connect() as conn:
            rows = conn.execute(SELECT_ARTIFACTS, {"job_id": job_id}).all()
        return {row.name: (bytes(row.data), bool(row.sealed)) for row in rows}

    def open(self, data: bytes, sealed: bool) -> bytes:
        """A stored value's plaintext (unsealed if it was sealed)."""
        return self._sealer.unseal(data) if sealed else bytes(data)

    def delete(self, job_id: str, names: Collection[str]) -> None:
        with self._writer.begin() as conn:
            conn.execute(DELETE_ARTIFACTS_NAMED, {"job_id": job_id, "names": list(names)})

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


def write_artifacts_in(
    conn: Connection, job_id: str, made: Collection[tuple[str, bytes, bool, bool]]
) -> None:
    """Store artifacts in the caller's transaction: ``(name, stored, sealed, replace)``,
    ``stored`` already sealed where ``sealed``.

    A name stored meanwhile and not to be replaced means that another run of the stage
    got there first: ``StateConflict``, and the caller's transaction (with this run's
    outcome) rolls back, leaving the first run's artifacts and outcome.
    """
    if not made:
        return
    kept = [name for name, _, _, replace in made if not replace]
    if kept:
        taken = conn.execute(SELECT_ARTIFACT_NAMES, {"job_id": job_id, "names": kept}).all()
        if taken:
            names = ", ".join(sorted(row.name for row in taken))
            raise StateConflict(f"job {job_id}: another run stored {names} first")
    replaced = [name for name, _, _, replace in made if replace]
    if replaced:
        conn.execute(DELETE_ARTIFACTS_NAMED, {"job_id": job_id, "names": replaced})
    now = datetime.now(UTC)
    rows = [
        {"job_id": job_id, "name": name, "data": stored, "sealed": sealed, "created_at": now}
        for name, stored, sealed, _ in made
    ]
    conn.execute(INSERT_ARTIFACT, rows)
