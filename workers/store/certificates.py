"""The certificate inventory: one row per succeeded job's certificate, kept by its events.

A certificate's notAfter and renewal point are stored (and indexed) when its job
succeeds, so that what is due is one indexed query (``due``) and a page of the
inventory one query (``page``), whatever the number of jobs stored. The row follows its
job's events, in the transaction that appends them (``on_events``):

- ``job_succeeded``: the row is written (from the job's certificate, request and
  keystore record) and, for a renewal, the certificate it renews is marked replaced;
- ``keystore_retired`` / ``keystore_deleted``: the old keystore record's fate;
- ``rolled_back``: the job's certificate leaves the inventory (a rolled-back renewal
  gives the certificate it had replaced back its place).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from sqlalchemy import Connection, Engine, and_, case, delete, func, insert, or_, select, update

from workers.config.renewal import renewal_point
from workers.store import schema as t
from workers.store.writer import Writer

__all__ = [
    "DAYS_LEFT_BUCKETS",
    "FAR_BUCKET",
    "CertificateRow",
    "Certificates",
    "ExpirySummary",
    "certificate_values",
    "keystore_sys_id_of",
]

Rules = Callable[[str], "str | None"]  # CA profile -> its renew_before (None: the default)
c = t.certificates


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# Days-left buckets of certificate expiry metrics: (label, notAfter within this many days).
DAYS_LEFT_BUCKETS = (("expired", 0), ("7", 7), ("14", 14), ("30", 30), ("60", 60), ("90", 90))
FAR_BUCKET = "more"


@dataclass(frozen=True)
class ExpirySummary:
    counts: dict[tuple[str, str], int]  # (instance, days-left bucket) -> certificates
    soonest: dict[str, datetime]  # instance -> the soonest notAfter
    due: dict[str, int]  # instance -> certificates past their renewal point


@dataclass(frozen=True)
class CertificateRow:
    job_id: str
    instance: str
    target: str
    ca_profile: str
    protocol_profile: str
    keystore_record: str
    keystore_sys_id: str | None
    keystore_format: str
    serial: str
    not_before: datetime
    not_after: datetime
    renewal_point: datetime
    renews: str | None
    submitted_at: datetime
    replaced_by: str | None
    retired_at: datetime | None
    retired_sys_id: str | None
    keystore_deleted: bool

    @classmethod
    def of(cls, row: Any) -> CertificateRow:
        values = dict(row._mapping)
        values.pop("renew_before", None)
        values.pop("pruned", None)
        for key in ("not_before", "not_after", "renewal_point", "submitted_at", "retired_at"):
            if values[key] is not None:
                values[key] = _aware(values[key])
        values["keystore_deleted"] = bool(values["keystore_deleted"])
        return cls(**values)


def certificate_values(
    job: Mapping[str, Any], pem: bytes, keystore_sys_id: str | None, rule: str | None
) -> dict[str, Any]:
    """The inventory row of a job (its row's columns) with certificate ``pem``."""
    certificate = x509.load_pem_x509_certificates(pem)[0]
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    request = json.loads(job["request"])
    return {
        "job_id": job["id"],
        "instance": job["instance"],
        "target": job["target"],
        "ca_profile": request["ca"]["profile"],
        "protocol_profile": request["protocol_profile"]["name"],
        "keystore_record": request["keystore"]["record_name"],
        "keystore_sys_id": keystore_sys_id,
        "keystore_format": request["keystore"].get("format", "jks"),
        "serial": format(certificate.serial_number, "x"),
        "not_before": start,
        "not_after": end,
        "renewal_point": renewal_point(start, end, rule),
        "renew_before": rule,
        "renews": job["renews"],
        "submitted_at": _aware(job["created_at"]),
        "replaced_by": None,
        "retired_at": None,
        "retired_sys_id": None,
        "keystore_deleted": False,
        "pruned": 0,
    }


def keystore_sys_id_of(message: str | None) -> str | None:
    """The keystore record's sys_id in upload-keystore's recorded output."""
    if not message:
        return None
    value = json.loads(message).get("keystore_sys_id")
    return str(value) if value else None


class Certificates:
    def __init__(self, reader: Engine, writer: Writer) -> None:
        self._reader = reader
        self._writer = writer
        self.rules: Rules = lambda _profile: None

    def follow_rules(self, rules: Mapping[str, str | None]) -> int:
        """Renewal points by each CA profile's ``renew_before`` (``rules``): the rows set
        with another rule (a changed pipeline.toml, the migration's default) are moved.
        Returns how many moved."""
        self.rules = lambda profile: rules.get(profile)
        moved = 0
        for profile, rule in rules.items():
            other = c.c.renew_before
            mismatch = other.is_not(None) if rule is None else or_(other.is_(None), other != rule)
            stale = select(c.c.job_id, c.c.not_before, c.c.not_after).where(
                c.c.ca_profile == profile, mismatch
            )
            with self._writer.begin() as conn:
                for row in conn.execute(stale).all():
                    point = renewal_point(_aware(row.not_before), _aware(row.not_after), rule)
                    change = {"renewal_point": point, "renew_before": rule}
                    conn.execute(update(c).where(c.c.job_id == row.job_id).values(**change))
                    moved += 1
        return moved

    # -- kept by the job's events (in the transaction that appends them) ------------------

    def on_events(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            kind, job_id = row["kind"], row["job_id"]
            if kind in ("job_succeeded", "adopted"):  # an adopted integration is managed too
                self._record(conn, job_id)
            elif kind == "keystore_retired":
                sys_id = json.loads(row["detail"]).get("sys_id")
                values = {"retired_at": row["at"], "retired_sys_id": sys_id}
                conn.execute(update(c).where(c.c.job_id == job_id).values(**values))
            elif kind == "keystore_deleted":
                conn.execute(update(c).where(c.c.job_id == job_id).values(keystore_deleted=True))
            elif kind == "rolled_back":
                conn.execute(delete(c).where(c.c.job_id == job_id))
                back = update(c).where(c.c.replaced_by == job_id).values(replaced_by=None)
                conn.execute(back)

    def _record(self, conn: Connection, job_id: str) -> None:
        job = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
        a, o = t.artifacts, t.outputs
        pem = conn.execute(
            select(a.c.data).where(a.c.job_id == job_id, a.c.name == "certificate")
        ).scalar()
        if job is None or pem is None:
            return
        output = conn.execute(
            select(o.c.message).where(o.c.job_id == job_id, o.c.stage == "upload-keystore")
        ).scalar()
        profile = json.loads(job.request)["ca"]["profile"]
        values = certificate_values(
            dict(job._mapping), bytes(pem), keystore_sys_id_of(output), self.rules(profile)
        )
        conn.execute(delete(c).where(c.c.job_id == job_id))
        conn.execute(insert(c).values(**values))
        # The job it renews, and any earlier job on the same message (a take-over with
        # ``replace``): the message uses this job's certificate now, not theirs.
        earlier = or_(
            c.c.job_id == job.renews,
            and_(c.c.instance == job.instance, c.c.target == job.target),
        )
        open_ = c.c.replaced_by.is_(None)
        others = update(c).where(earlier, open_, c.c.job_id != job_id)
        conn.execute(others.values(replaced_by=job_id))

    # -- reading ------------------------------------------------------------------------

    def due(
        self, now: datetime, *, after: tuple[datetime, str] | None = None, limit: int = 500
    ) -> list[CertificateRow]:
        """Certificates not replaced and past their renewal point, the earliest first
        (keyset pages: ``after`` = the last one's renewal point and job id)."""
        query = select(c).where(c.c.replaced_by.is_(None), c.c.renewal_point <= now)
        if after is not None:
            point, job_id = after
            query = query.where(
                c.c.renewal_point >= point,
                or_(c.c.renewal_point > point, c.c.job_id > job_id),
            )
        query = query.order_by(c.c.renewal_point, c.c.job_id).limit(limit)
        with self._reader.connect() as conn:
            return [CertificateRow.of(row) for row in conn.execute(query).all()]

    def retired_before(self, moment: datetime, *, limit: int = 500) -> list[CertificateRow]:
        """Replaced certificates whose keystore record was retired before ``moment`` and
        is still on its instance."""
        query = (
            select(c)
            .where(c.c.retired_at.is_not(None), c.c.retired_at <= moment)
            .where(c.c.retired_sys_id.is_not(None))
            .where(c.c.keystore_deleted.is_(False))
            .order_by(c.c.retired_at)
            .limit(limit)
        )
        with self._reader.connect() as conn:
            return [CertificateRow.of(row) for row in conn.execute(query).all()]

    def page(
        self,
        now: datetime,
        *,
        instance: str | None = None,
        states: Collection[str] = (),
        days_left: float | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> list[CertificateRow]:
        """Soonest notAfter first; ``states`` among current, due, expired and replaced
        (renewing and renewal_failed are due ones: ``ManagedCertificate`` tells)."""
        query = select(c).order_by(c.c.not_after, c.c.job_id).limit(limit)
        if instance:
            query = query.where(c.c.instance == instance)
        if states:
            query = query.where(or_(*(self._state(s, now) for s in states)))
        if days_left is not None:
            query = query.where(c.c.not_after <= now + timedelta(days=days_left))
        if after is not None:
            end, job_id = after
            query = query.where(c.c.not_after >= end, or_(c.c.not_after > end, c.c.job_id > job_id))
        with self._reader.connect() as conn:
            return [CertificateRow.of(row) for row in conn.execute(query).all()]

    @staticmethod
    def _state(state: str, now: datetime) -> Any:
        open_ = c.c.replaced_by.is_(None)
        return {
            "replaced": c.c.replaced_by.is_not(None),
            "expired": and_(open_, c.c.not_after <= now),
            "due": and_(open_, c.c.renewal_point <= now, c.c.not_after > now),
            "current": and_(open_, c.c.renewal_point > now),
        }[state]

    def expiry_summary(self, now: datetime) -> ExpirySummary:
        """Certificates not replaced, counted by instance and days-left bucket, and the
        soonest notAfter of each instance: two aggregate queries, whatever is stored."""
        bucket = case(
            *(
                (c.c.not_after <= now + timedelta(days=days), label)
                for label, days in DAYS_LEFT_BUCKETS
            ),
            else_=FAR_BUCKET,
        )
        due = case((c.c.renewal_point <= now, 1), else_=0)
        query = (  # one pass over the open certificates' partial index (instance, notAfter)
            select(
                c.c.instance,
                bucket.label("bucket"),
                func.count().label("n"),
                func.min(c.c.not_after).label("soonest"),
                func.sum(due).label("due"),
            )
            .where(c.c.replaced_by.is_(None))
            .group_by(c.c.instance, "bucket")
        )
        summary = ExpirySummary(counts={}, soonest={}, due={})
        with self._reader.connect() as conn:
            for row in conn.execute(query).all():
                summary.counts[(row.instance, row.bucket)] = int(row.n)
                soonest = _aware(row.soonest)
                if row.instance not in summary.soonest or soonest < summary.soonest[row.instance]:
                    summary.soonest[row.instance] = soonest
                summary.due[row.instance] = summary.due.get(row.instance, 0) + int(row.due or 0)
        return summary

    def current(self) -> list[CertificateRow]:
        """Every certificate not replaced (for per-certificate metrics, when asked for)."""
        query = select(c).where(c.c.replaced_by.is_(None)).order_by(c.c.not_after, c.c.job_id)
        with self._reader.connect() as conn:
            return [CertificateRow.of(row) for row in conn.execute(query).all()]

    def get(self, job_id: str) -> CertificateRow | None:
        with self._reader.connect() as conn:
            row = conn.execute(select(c).where(c.c.job_id == job_id)).first()
        return None if row is None else CertificateRow.of(row)
