"""Tokens, keyset pages and rewinds in the store, on SQLite and on the PostgreSQL server."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from messages import JobRequest, JobState, Stage
from tests.factories import good
from workers.errors import RequestInvalid, StateConflict
from workers.sealing import Sealer
from workers.store import Store
from workers.store.engine import normalise_url
from workers.store.rewind import rewind


@pytest.fixture
def store(store_url: str, sealer: Sealer) -> Store:
    return Store(store_url, sealer)


def test_a_token_verifies_until_revoked_and_only_its_digest_is_stored(
    store: Store, store_url: str
) -> None:
    record, token = store.tokens.create("workflow A", "operator")
    assert store.tokens.verify(token) == record and record.allows("read")
    assert store.tokens.verify(token[:-1] + ("x" if token[-1] != "x" else "y")) is None
    assert store.tokens.verify("twoway_" + record.id) is None
    with create_engine(normalise_url(store_url)).connect() as conn:
        rows = [str(row) for row in conn.execute(text("SELECT * FROM twoway_tokens"))]
    secret = token.split("_", 2)[2]  # the secret itself may hold "_" (URL-safe base64)
    assert len(secret) == 43
    assert rows and not any(token in row or secret in row for row in rows)
    assert [r.id for r in store.tokens.revoke("workflow A")] == [record.id]
    assert store.tokens.verify(token) is None
    assert store.tokens.all() == [] and len(store.tokens.all(include_revoked=True)) == 1


def test_a_read_token_does_not_allow_operator_and_bad_input_is_refused(store: Store) -> None:
    record, _ = store.tokens.create("dashboard", "read")
    assert record.allows("read") and not record.allows("operator")
    with pytest.raises(RequestInvalid, match="role"):
        store.tokens.create("x", "admin")
    with pytest.raises(RequestInvalid, match="name"):
        store.tokens.create("", "read")


def test_keyset_pages_cover_every_job_once_in_order(store: Store) -> None:
    made = [store.create_job(JobRequest.model_validate(good()))[0].id for _ in range(7)]
    everyone = [job.id for job in store.list_jobs(limit=100)]
    pages: list[str] = []
    after = None
    while True:
        page = store.list_jobs(limit=3, after=after)
        if not page:
            break
        pages += [job.id for job in page]
        after = (page[-1].created_at, page[-1].id)
    assert pages == everyone and sorted(pages) == sorted(made)


def test_rewind_forgets_outputs_and_artifacts_in_the_transition(store: Store) -> None:
    job, _ = store.create_job(JobRequest.model_validate(good()))
    store.transition(job.id, kind="x", state=JobState.RUNNING, stage=Stage.CSR)
    for stage in (Stage.GENERATE, Stage.CSR):
        store.transition(job.id, kind="done", output=(stage, "{}"))
    store.artifacts.put_all(job.id, {"csr": b"old csr"})
    store.transition(job.id, kind="failed", state=JobState.FAILED)
    with pytest.raises(StateConflict):  # a lost compare-and-set forgets nothing
        store.transition(
            job.id,
            kind="replay_requested",
            expect={JobState.RUNNING},
            within=rewind(job.id, outputs=[Stage.CSR], artifacts=["csr"]),
        )
    assert store.artifacts.get(job.id, "csr") == b"old csr"
    store.transition(
        job.id,
        kind="replay_requested",
        expect={JobState.FAILED},
        state=JobState.RUNNING,
        within=rewind(job.id, outputs=[Stage.CSR], artifacts=["csr"], write={"key": b"k2"}),
    )
    assert store.progress.get_output(job.id, Stage.CSR) is None
    assert store.progress.get_output(job.id, Stage.GENERATE) is not None
    assert store.artifacts.get(job.id, "csr") is None
    assert store.artifacts.get(job.id, "key") == b"k2"
