"""Schema migrations on SQLite and on the PostgreSQL server: the revisions build exactly
the tables of schema.py, old stores are adopted, and several processes may start at once.
"""

from __future__ import annotations

import threading

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from messages import JobRequest
from tests.factories import good
from workers.errors import ConfigError
from workers.sealing import Sealer
from workers.store import Store
from workers.store.engine import make_engines
from workers.store.migrate import (
    BASELINE,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    drift,
    head_revision,
)
from workers.store.schema import metadata


def writer(url: str) -> Engine:
    return make_engines(url)[1]


def test_upgrade_head_builds_exactly_the_tables_of_schema_py(store_url: str) -> None:
    """The autogenerate diff is empty: every table, column and index has its revision."""
    engine = writer(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with engine.connect() as conn:
        differences = drift(conn)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert differences == [], f"schema.py and the revisions differ: {differences}"
    assert set(metadata.tables) | {VERSION_TABLE} == tables


def test_the_store_upgrades_itself_at_start_up(store_url: str, sealer: Sealer) -> None:
    store = Store(store_url, sealer)
    assert store.revision == head_revision()
    with writer(store_url).connect() as conn:
        assert current_revision(conn) == head_revision()
        assert drift(conn) == []


def test_every_revision_downgrades_to_nothing_and_back(store_url: str) -> None:
    engine = writer(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
        command.downgrade(alembic_config(conn), "base")
        assert set(inspect(conn).get_table_names()) <= {VERSION_TABLE}
        command.upgrade(alembic_config(conn), "head")
    with engine.connect() as conn:
        assert drift(conn) == []
    engine.dispose()


def test_a_store_made_before_migrations_is_adopted(store_url: str, sealer: Sealer) -> None:
    """Tables at the baseline and no version table (as create_all left them): the store is
    stamped at the baseline, upgraded, and the jobs it held are still there."""
    first = Store(store_url, sealer)
    job, _ = first.create_job(JobRequest.model_validate(good()))
    first.close()
    engine = writer(store_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), BASELINE)
        conn.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    engine.dispose()
    adopted = Store(store_url, sealer)
    assert adopted.get_job(job.id).request == job.request
    with writer(store_url).connect() as conn:
        assert drift(conn) == [] and current_revision(conn) == head_revision()


def test_several_processes_starting_at_once_migrate_once(store_url: str, sealer: Sealer) -> None:
    errors: list[BaseException] = []
    stores: list[Store] = []

    def start() -> None:
        try:
            stores.append(Store(store_url, sealer))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(stores) == 4
    with writer(store_url).connect() as conn:
        query = text(f"SELECT version_num FROM {VERSION_TABLE}")  # noqa: S608 - a constant
        rows = conn.execute(query).all()
    assert [row[0] for row in rows] == [head_revision()]


def test_a_table_no_revision_creates_stops_start_up(store_url: str, sealer: Sealer) -> None:
    Store(store_url, sealer).close()
    engine = writer(store_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE twoway_tokens"))
    engine.dispose()
    with pytest.raises(ConfigError, match="no table twoway_tokens") as caught:
        Store(store_url, sealer)
    assert "twoway db revision" in caught.value.hint


def test_the_alembic_cli_alone_is_refused_with_a_hint() -> None:
    """env.py runs only on the store's connection (which holds the lock)."""
    with pytest.raises(ConfigError, match="connection the store provides"):
        command.upgrade(alembic_config(None), "head")


def test_0009_back_fills_the_certificate_inventory(store_url: str, sealer: Sealer) -> None:
    """A store with succeeded jobs from before the inventory: upgrading stores each one's
    notAfter and renewal point (and a renewal's replacement), as a job succeeding does."""
    from cryptography.hazmat.primitives import serialization

    from messages import JobState
    from tests.factories import self_signed

    store = Store(store_url, sealer)
    certificate = self_signed("backfill.example.test")
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    request = JobRequest.model_validate(good())
    old, _ = store.create_job(request)
    new, _ = store.create_job(request, renews=old.id)
    for job in (old, new):
        store.artifacts.put_all(job.id, {"certificate": pem})
        store.transition(job.id, kind="job_succeeded", state=JobState.SUCCEEDED)
    made = store.certificates.get(old.id)
    store.close()
    engine = writer(store_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0008")
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
    again = Store(store_url, sealer)
    filled = again.certificates.get(old.id)
    assert filled is not None and made is not None
    assert filled.not_after == certificate.not_valid_after_utc == made.not_after
    assert filled.renewal_point == made.renewal_point
    assert filled.replaced_by == new.id
    assert again.certificates.due(certificate.not_valid_after_utc) != []


def test_0011_back_fills_the_batches_started_before_waves(store_url: str, sealer: Sealer) -> None:
    """A batch started before ``twoway_migrations`` existed is known only by its
    ``migration_started`` events: upgrading makes each one a started row of wave 0, so that
    its progress is still found."""
    store = Store(store_url, sealer)
    request = JobRequest.model_validate(good())
    certificate, _ = store.create_job(request)
    renewal, _ = store.create_job(request, renews=certificate.id)
    detail = {"batch": "0123456789ab", "renewal": renewal.id, "ca": "corp", "actor": "ops"}
    store.note(certificate.id, "migration_started", detail)
    store.close()
    engine = writer(store_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0010")
        command.upgrade(alembic_config(conn), "head")
    engine.dispose()
    again = Store(store_url, sealer)
    [row] = again.migrations.of("0123456789ab")
    assert (row.job_id, row.renewal, row.ca, row.wave, row.state) == (
        certificate.id,
        renewal.id,
        "corp",
        0,
        "started",
    )
    assert row.instance == request.instance and row.actor == "ops"
    again.close()
