"""The scheduler and the inventory select what is due, not what is recent: a store with
more certificates than any limit in the code (the old inventory read the 10,000 newest
succeeded jobs; pages are 500) misses none, and the certificate's row follows its job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import func, insert, select

from messages import JobState
from ops.dev.stack import Stack, StackOptions
from ops.views.jobview import follow
from workers.config import load_config
from workers.config.renewal import RenewalSettings
from workers.levers.renewal import inventory, inventory_page
from workers.store import schema as t

STORED = 10_600  # certificates: more than the old 10,000 and than any page
DUE = 550  # the oldest ones, past their renewal point: more than a page of 500


def _closed_window(now: datetime) -> str:
    """A maintenance window twelve hours away: renewals wait, notes do not."""
    start = (now + timedelta(hours=12)).replace(minute=0)
    return f"daily {start:%H}:00-{start:%H}:30"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    base = load_config()
    renewal = RenewalSettings(windows=[_closed_window(datetime.now(UTC))])
    options = StackOptions(broker="stub", config=base.model_copy(update={"renewal": renewal}))
    with Stack(options).start() as running:
        yield running


def _copies(template: dict[str, Any], now: datetime) -> tuple[list[dict[str, Any]], ...]:
    """Job rows and certificate rows: the first ``DUE`` created first and due."""
    jobs, certificates = [], []
    for index in range(STORED):
        job_id = uuid.uuid4().hex
        created = now - timedelta(days=300) + timedelta(seconds=index * 60)
        jobs.append({**template, "id": job_id, "created_at": created, "updated_at": created,
                     "idempotency_key": None, "target": f"Copy {index}"})  # fmt: skip
        start = created if index >= DUE else now - timedelta(days=150)
        certificates.append({
            "job_id": job_id, "instance": "sandbox", "target": f"Copy {index}",
            "ca_profile": "local", "protocol_profile": f"copy{index}",
            "keystore_record": f"copy {index}", "keystore_sys_id": None,
            "serial": format(index, "x"), "not_before": start,
            "not_after": start + timedelta(days=200),
            "renewal_point": start + timedelta(days=100 if index < DUE else 300),
            "renew_before": None, "renews": None, "submitted_at": created,
        })  # fmt: skip
    return jobs, certificates


def test_a_succeeded_job_s_certificate_is_stored_with_its_dates(stack: Stack) -> None:
    job, _ = stack.app.submit(stack.example_job())
    assert follow(stack.app.store, job.id, lambda _: None, timeout=120).state is JobState.SUCCEEDED
    row = stack.app.store.certificates.get(job.id)
    pem = stack.app.store.artifacts.get(job.id, "certificate")
    assert row is not None and pem is not None
    certificate = x509.load_pem_x509_certificate(pem)
    assert row.not_after == certificate.not_valid_after_utc
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert row.renewal_point == certificate.not_valid_before_utc + lifetime * 2 / 3
    assert row.keystore_sys_id and row.replaced_by is None


def test_no_certificate_is_missed_however_many_are_stored(stack: Stack) -> None:
    store, now = stack.app.store, datetime.now(UTC)
    template = stack.app.store.list_jobs(states=[JobState.SUCCEEDED], limit=1)[0]
    engine = store._writer.engine
    with engine.begin() as conn:
        row = conn.execute(select(t.jobs).where(t.jobs.c.id == template.id)).one()
        jobs, certificates = _copies(dict(row._mapping), now)
        conn.execute(insert(t.jobs), jobs)
        conn.execute(insert(t.certificates), certificates)
    due_ids = {c["job_id"] for c in certificates[:DUE]}
    newest = {j.id for j in store.list_jobs(states=[JobState.SUCCEEDED], limit=10_000)}
    assert not due_ids & newest  # what the old inventory read: none of the due ones

    listed = inventory(stack.app, now=now)
    assert len(listed) == STORED + 1
    assert {c.job_id for c in listed if c.state == "due"} == due_ids

    report = stack.scheduler.run_once(now=now)
    assert report.ran and report.started == {}  # the window is closed: notes only
    with engine.connect() as conn:
        noted = conn.execute(
            select(func.count(func.distinct(t.events.c.job_id))).where(
                t.events.c.kind == "certificate_expiring"
            )
        ).scalar()
    assert noted == DUE


def test_a_page_of_the_inventory_filters_and_continues(stack: Stack) -> None:
    now = datetime.now(UTC)
    page, after = inventory_page(stack.app, now=now, states=["due"], limit=300)
    assert len(page) == 300 and after is not None
    assert all(c.state == "due" for c in page)
    rest, _ = inventory_page(stack.app, now=now, states=["due"], after=after, limit=500)
    assert len(rest) == DUE - 300
    assert not {c.job_id for c in page} & {c.job_id for c in rest}
    soon, _ = inventory_page(stack.app, now=now, days_left=60, limit=500)
    assert soon and all(c.days_left <= 60 for c in soon)
