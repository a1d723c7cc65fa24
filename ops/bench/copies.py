"""Fill a store with copies of real jobs, in bulk SQL: 100,000 jobs in minutes.

Each copy takes a template's row, history, artifacts and stage outputs (``seed.py``)
with a new id, its own times (the history shifted with it) and target, and, for a
succeeded job, a certificate of its own (its notBefore at the copy's creation). The mix
is 84 % succeeded, 10 % failed and 6 % waiting for their CA; succeeded jobs come in
renewal chains of three over the last year (certificates of 200 days, renewed at two
thirds): the first two replaced by the next, the last one current. ``due`` is the share
of chains whose last certificate is past its renewal point (some of them expired).
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Connection, Engine, insert, inspect, select, text

from ops.bench.seed import Templates
from workers.config.renewal import renewal_point
from workers.store import schema as t

__all__ = ["CERTIFICATE_ARTIFACTS", "Filler"]

CERTIFICATE_ARTIFACTS = ("certificate", "client_cert_pem", "client_cert_der")
LIFETIME = timedelta(days=200)
_COPIES = "twoway_bench_copies"
_BATCH = 5000
_CREATE = f"""CREATE TABLE IF NOT EXISTS {_COPIES} (
    new_id VARCHAR(32) PRIMARY KEY, template_id VARCHAR(32) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, shift_s DOUBLE PRECISION NOT NULL,
    target VARCHAR(100) NOT NULL, renews VARCHAR(32))"""
_JOBS = f"""INSERT INTO twoway_jobs (id, created_at, updated_at, state, stage, instance, target,
    request, attempts, error, ca_request_id, idempotency_key, request_sha256, version, renews,
    last_seq)
  SELECT c.new_id, c.created_at, c.created_at, j.state, j.stage, j.instance, c.target,
    replace(j.request, j.target, c.target), j.attempts, j.error, j.ca_request_id, NULL,
    j.request_sha256, j.version, c.renews, j.last_seq
  FROM {_COPIES} c JOIN twoway_jobs j ON j.id = c.template_id"""  # noqa: S608 - our own table names
_EVENTS = f"""INSERT INTO twoway_events (job_id, seq, at, kind, state, stage, detail)
  SELECT c.new_id, e.seq, {{at}}, e.kind, e.state, e.stage, e.detail
  FROM {_COPIES} c JOIN twoway_events e ON e.job_id = c.template_id ORDER BY c.new_id, e.seq"""  # noqa: S608 - our own table names
_ARTIFACTS = f"""INSERT INTO twoway_artifacts (job_id, name, data, sealed, created_at)
  SELECT c.new_id, a.name, a.data, a.sealed, c.created_at
  FROM {_COPIES} c JOIN twoway_artifacts a ON a.job_id = c.template_id
  WHERE a.name NOT IN ('certificate', 'client_cert_pem', 'client_cert_der')"""  # noqa: S608 - our own table names
_OUTPUTS = f"""INSERT INTO twoway_outputs (job_id, stage, message, recorded_at, forwarded)
  SELECT c.new_id, o.stage, o.message, c.created_at, o.forwarded
  FROM {_COPIES} c JOIN twoway_outputs o ON o.job_id = c.template_id"""  # noqa: S608 - our own table names
_PLAN = f"""INSERT INTO {_COPIES} (new_id, template_id, created_at, shift_s, target, renews)
  VALUES (:new_id, :template_id, :created_at, :shift_s, :target, :renews)"""  # noqa: S608
_SHIFTED = {
    "postgresql": "e.at + c.shift_s * interval '1 second'",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', e.at, printf('%+.3f seconds', c.shift_s)) || '000'",
}


@dataclass(frozen=True)
class Copy:
    id: str
    template: str
    created_at: datetime
    target: str
    renews: str | None
    certificate: bool
    replaced_by: str | None = None  # the next of its renewal chain


def _id(index: int) -> str:
    return hashlib.sha256(f"twoway-bench-{index}".encode()).hexdigest()[:32]


class Filler:
    """Copies jobs into ``engine``'s store; ``fill(n)`` brings it to ``n`` copies."""

    def __init__(self, engine: Engine, templates: Templates, *, due: float = 0.0) -> None:
        self.engine = engine
        self.templates = templates
        self.due = due
        self.copied = 0
        self.now = datetime.now(UTC)
        self._random = random.Random(26)  # noqa: S311 - a benchmark's spread, not a secret
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twoway bench CA")])
        self._created: dict[str, datetime] = {}
        self._chain_base: dict[int, datetime] = {}
        self._inventory: dict[str, dict[str, Any]] = {}

    def fill(self, total: int) -> None:
        """Copy until the store holds ``total`` copies (and the templates)."""
        with self.engine.begin() as conn:
            conn.execute(text(_CREATE))
            self._inventory = self._templates_inventory(conn)
            ids = list(vars(self.templates).values())
            query = select(t.jobs.c.id, t.jobs.c.created_at).where(t.jobs.c.id.in_(ids))
            self._created = {
                row.id: row.created_at.replace(tzinfo=row.created_at.tzinfo or UTC)
                for row in conn.execute(query).all()
            }
        while self.copied < total:
            count = min(_BATCH, total - self.copied)
            copies = [self._plan(self.copied + i) for i in range(count)]
            with self.engine.begin() as conn:
                self._insert(conn, copies)
            self.copied += count
            sys.stderr.write(f"\r  filled {self.copied}/{total} jobs")
            sys.stderr.flush()
        sys.stderr.write("\n")
        with self.engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {_COPIES}"))
        self._analyze()

    def _templates_inventory(self, conn: Connection) -> dict[str, dict[str, Any]]:
        """The templates' certificate rows, where the store keeps an inventory (0009)."""
        if not inspect(conn).has_table(t.certificates.name):
            return {}
        ids = [self.templates.renewed, self.templates.renewal]
        rows = conn.execute(select(t.certificates).where(t.certificates.c.job_id.in_(ids)))
        return {row.job_id: dict(row._mapping) for row in rows.all()}

    def _analyze(self) -> None:
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))

    def _plan(self, index: int) -> Copy:
        block, slot = divmod(index, 100)
        spread = self._random.uniform(0, 1)
        if slot >= 94:  # waiting for the CA: within its 14 days
            created = self.now - timedelta(days=13 * spread)
            return Copy(_id(index), self.templates.waiting, created, f"Scale w{index}", None, False)
        if slot >= 84:
            created = self.now - timedelta(days=365 * spread)
            return Copy(_id(index), self.templates.failed, created, f"Scale x{index}", None, False)
        chain, position = block * 28 + slot // 3, slot % 3
        base = self._chain_base.setdefault(chain, self._base())
        created = base - (2 - position) * LIFETIME * 2 / 3
        template = self.templates.renewed if position < 2 else self.templates.renewal
        renews = _id(index - 1) if position > 0 else None
        replaced_by = _id(index + 1) if position < 2 else None
        return Copy(_id(index), template, created, f"Scale c{chain}", renews, True, replaced_by)

    def _base(self) -> datetime:
        """When a chain's last job ran: within its renewal point, or (``due``) past it."""
        if self._random.random() < self.due:
            return self.now - LIFETIME * self._random.uniform(0.67, 1.1)
        return self.now - LIFETIME * self._random.uniform(0.0, 0.6)

    def _insert(self, conn: Connection, copies: list[Copy]) -> None:
        conn.execute(text(f"DELETE FROM {_COPIES}"))  # noqa: S608
        rows = [self._row(c) for c in copies]
        conn.execute(text(_PLAN), rows)
        conn.execute(text(_JOBS))
        conn.execute(text(_EVENTS.format(at=_SHIFTED[conn.dialect.name])))
        conn.execute(text(_ARTIFACTS))
        conn.execute(text(_OUTPUTS))
        made = [(copy, self._certificate(copy)) for copy in copies if copy.certificate]
        artifacts = [row for copy, cert in made for row in _artifacts(copy, cert)]
        if artifacts:
            conn.execute(
                text(
                    "INSERT INTO twoway_artifacts (job_id, name, data, sealed, created_at)"
                    " VALUES (:job_id, :name, :data, false, :created_at)"
                ),
                artifacts,
            )
        if made and self._inventory:  # what the job_succeeded events would have written
            conn.execute(insert(t.certificates), [self._inventory_row(c, x) for c, x in made])

    def _row(self, copy: Copy) -> dict[str, Any]:
        shift = (copy.created_at - self._created[copy.template]).total_seconds()
        return {
            "new_id": copy.id,
            "template_id": copy.template,
            "created_at": copy.created_at,
            "shift_s": shift,
            "target": copy.target,
            "renews": copy.renews,
        }

    def _certificate(self, copy: Copy) -> x509.Certificate:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, copy.target)])
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._issuer)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(copy.created_at)
            .not_valid_after(copy.created_at + LIFETIME)
            .sign(self._key, hashes.SHA256())
        )

    def _inventory_row(self, copy: Copy, certificate: x509.Certificate) -> dict[str, Any]:
        """The copy's certificate row: its template's, with the copy's certificate and
        chain; a certificate its chain replaced had its keystore record retired when the
        next one succeeded and deleted after the grace period (as the template's was)."""
        template = self._inventory[copy.template]
        start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        retired = template["retired_at"] is not None and copy.replaced_by is not None
        successor = start + LIFETIME * 2 / 3
        return {
            **template,
            "job_id": copy.id,
            "target": copy.target,
            "serial": format(certificate.serial_number, "x"),
            "not_before": start,
            "not_after": end,
            "renewal_point": renewal_point(start, end, None),
            "renew_before": None,
            "renews": copy.renews,
            "submitted_at": copy.created_at,
            "replaced_by": copy.replaced_by,
            "retired_at": successor if retired else None,
            "retired_sys_id": template["retired_sys_id"] if retired else None,
            "keystore_deleted": retired and template["keystore_deleted"],
            "pruned": 0,
        }


def _artifacts(copy: Copy, certificate: x509.Certificate) -> Iterator[dict[str, Any]]:
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    der = certificate.public_bytes(serialization.Encoding.DER)
    for name, data in zip(CERTIFICATE_ARTIFACTS, (pem, pem, der), strict=True):
        yield {"job_id": copy.id, "name": name, "data": data, "created_at": copy.created_at}
