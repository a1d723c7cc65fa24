"""Revocation at a real ``cfssl serve``: a rollback revokes; a CFSSL that is down while the
revocation waits delays it (the rollback has long finished) until CFSSL is back."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from messages import JobState
from ops.dev.stack import Stack, StackOptions
from tests.e2e.conftest import add_partners, job_for, wait_all
from tests.factories import CfsslServer
from workers.config import CfsslCaProfile, load_config
from workers.levers.revoker import Revoker
from workers.levers.rollback import rollback

KEY_ENV = "TWOWAY_TEST_CFSSL_KEY"


@pytest.fixture
def cfssl(tmp_path: Path) -> Iterator[CfsslServer]:
    server = CfsslServer(tmp_path / "cfssl").start()
    yield server
    server.stop()


@pytest.fixture
def stack(cfssl: CfsslServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv(KEY_ENV, cfssl.auth_key)
    profile = CfsslCaProfile(
        adapter="cfssl",
        url=cfssl.url,
        profile="client",
        auth_key_env=KEY_ENV,
        trusted_roots_file=cfssl.root_file,
        connect_timeout_s=0.5,
    )
    base = load_config()
    revocation = base.revocation.model_copy(update={"min_backoff_s": 0.5, "max_backoff_s": 1})
    config = base.model_copy(update={"ca": {**base.ca, "corp": profile}, "revocation": revocation})
    with Stack(StackOptions(broker="stub", config=config)) as running:
        yield running


def certdb_status(cfssl: CfsslServer, serial: int) -> tuple[str, int]:
    with sqlite3.connect(cfssl.directory / "certdb.sqlite3") as db:
        row = db.execute(
            "SELECT status, reason FROM certificates WHERE serial_number = ?", (str(serial),)
        ).fetchone()
    return str(row[0]), int(row[1])


def test_cfssl_revokes_once_it_is_back(stack: Stack, cfssl: CfsslServer) -> None:
    [partner] = add_partners(stack, 1)
    partner.server.trust(cfssl.root_pem)
    job, _ = stack.app.submit({**job_for(stack, partner), "ca": {"profile": "corp"}})
    assert wait_all(stack, [job.id])[job.id] is JobState.SUCCEEDED
    pem = stack.app.store.artifacts.get(job.id, "certificate")
    assert pem is not None
    serial = x509.load_pem_x509_certificate(pem).serial_number
    assert certdb_status(cfssl, serial) == ("good", 0)

    cfssl.stop()  # CFSSL goes down; the rollback does not wait for it
    report = rollback(stack.app, job.id, actor="test", reason="partner decommissioned")
    assert report.state is JobState.CANCELLED
    revoker = Revoker(stack.app.deps)
    revoker.run_once()
    row = stack.app.store.revocations.of(job.id)
    assert row is not None and row.values["state"] == "pending"
    print("while down:", row.values["attempts"], row.values["last_error"])
    time.sleep(1.2)
    revoker.run_once()  # still down: deferred again, with a longer wait
    assert stack.app.store.revocations.of(job.id).attempts == 2  # type: ignore[union-attr]

    cfssl.start()
    deadline = time.monotonic() + 15
    while stack.app.store.revocations.of(job.id).values["state"] == "pending":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.3)
        revoker.run_once()
    assert stack.app.store.revocations.of(job.id).values["state"] == "done"  # type: ignore[union-attr]
    assert certdb_status(cfssl, serial) == ("revoked", 5)  # cessationOfOperation
    kinds = [e.kind for e in stack.app.store.history(job.id)]
    print("history:", kinds[kinds.index("rolled_back") :])
    assert kinds.count("revocation_deferred") == 2 and kinds[-1] == "certificate_revoked"
