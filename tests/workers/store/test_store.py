"""The store on SQLite and on the PostgreSQL server: jobs, histories, artifacts."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from messages import JobRequest, JobState, Stage
from tests.factories import good
from workers.errors import (
    ConfigError,
    IdempotencyConflict,
    JobNotFound,
    ReplayRefused,
    StateConflict,
)
from workers.sealing import Sealer
from workers.store import Store
from workers.store.artifacts import write_artifacts_in
from workers.store.engine import normalise_url


@pytest.fixture
def store(store_url: str, sealer: Sealer) -> Store:
    return Store(store_url, sealer)


def request(**changes: Any) -> JobRequest:
    return JobRequest.model_validate({**good(), **changes})


def test_a_new_job_is_accepted_with_one_event(store: Store) -> None:
    job, created = store.create_job(request())
    assert created and job.state is JobState.ACCEPTED and job.stage is None
    history = store.history(job.id)
    assert [e.kind for e in history] == ["job_accepted"]
    assert store.get_job(job.id).request == request()


def test_transition_is_compare_and_set(store: Store) -> None:
    job, _ = store.create_job(request())
    moved = store.transition(
        job.id,
        kind="stage_started",
        expect={JobState.ACCEPTED},
        state=JobState.RUNNING,
        stage=Stage.GENERATE,
        bump_attempt=True,
    )
    assert moved.state is JobState.RUNNING and moved.attempts == {"generate": 1}
    with pytest.raises(StateConflict):
        store.transition(job.id, kind="x", expect={JobState.ACCEPTED}, state=JobState.RUNNING)
    assert [e.seq for e in store.history(job.id)] == [1, 2]


def test_concurrent_transitions_let_exactly_one_win(store: Store) -> None:
    job, _ = store.create_job(request())
    wins: list[bool] = []

    def attempt() -> None:
        try:
            store.transition(job.id, kind="won", expect={JobState.ACCEPTED}, state=JobState.RUNNING)
            wins.append(True)
        except StateConflict:
            wins.append(False)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    assert [e.kind for e in store.history(job.id)].count("won") == 1


def test_outputs_are_recorded_with_the_transition(store: Store) -> None:
    job, _ = store.create_job(request())
    store.transition(job.id, kind="stage_completed", output=(Stage.GENERATE, '{"a": 1}'))
    recorded = store.progress.get_output(job.id, Stage.GENERATE)
    assert recorded is not None and recorded.message == '{"a": 1}' and not recorded.forwarded
    store.progress.mark_forwarded(job.id, Stage.GENERATE)
    assert store.progress.get_output(job.id, Stage.GENERATE).forwarded  # type: ignore[union-attr]
    store.transition(job.id, kind="stage_completed", output=(Stage.GENERATE, '{"a": 2}'))
    again = store.progress.get_output(job.id, Stage.GENERATE)  # recorded anew (a replay)
    assert again is not None and again.message == '{"a": 2}' and not again.forwarded
    store.progress.clear_outputs(job.id, [Stage.GENERATE])
    assert store.progress.get_output(job.id, Stage.GENERATE) is None


def test_a_lease_admits_one_run_at_a_time(store: Store) -> None:
    job, _ = store.create_job(request())
    minute = timedelta(minutes=1)
    assert store.progress.acquire(job.id, Stage.ENABLE, "run-a", minute) is None
    held = store.progress.acquire(job.id, Stage.ENABLE, "run-b", minute)
    assert held is not None and held.owner == "run-a" and held.stage == "enable"
    assert store.progress.acquire(job.id, Stage.ENABLE, "run-a", minute) is None  # re-entrant
    store.progress.release(job.id, "run-a")
    assert store.progress.acquire(job.id, Stage.ENABLE, "run-b", minute) is None


def test_an_expired_lease_can_be_taken_over(store: Store) -> None:
    job, _ = store.create_job(request())
    assert store.progress.acquire(job.id, Stage.ENABLE, "dead", timedelta(seconds=-1)) is None
    assert store.progress.acquire(job.id, Stage.ENABLE, "alive", timedelta(minutes=1)) is None


def test_artifacts_are_write_once_and_the_first_writer_wins(store: Store) -> None:
    job, _ = store.create_job(request())
    assert store.artifacts.put_all(job.id, {"csr": b"first"})["csr"] == b"first"
    assert store.artifacts.put_all(job.id, {"csr": b"second"})["csr"] == b"first"
    assert store.artifacts.get(job.id, "nothing") is None


def test_artifacts_kept_together_are_stored_all_or_none(store: Store) -> None:
    job, _ = store.create_job(request())
    broken: Any = None  # the database refuses it (data is NOT NULL) after the first insert
    with pytest.raises(IntegrityError):
        store.artifacts.put_all(job.id, {"certificate": b"leaf", "issued_chain": broken})
    assert store.artifacts.get(job.id, "certificate") is None  # not half there
    kept = store.artifacts.put_all(job.id, {"certificate": b"leaf", "issued_chain": b"chain"})
    assert kept == {"certificate": b"leaf", "issued_chain": b"chain"}
    again = store.artifacts.put_all(job.id, {"certificate": b"other", "issued_chain": b"x"})
    assert again == kept  # first writer wins, per name


def test_secret_artifacts_are_sealed_at_rest(store: Store, store_url: str) -> None:
    job, _ = store.create_job(request())
    secret = b"-----BEGIN PRIVATE KEY-----\nTOP-SECRET-KEY-MATERIAL\n"
    kept = store.artifacts.put_all(job.id, {"private_key": secret}, secret=True)
    assert kept == {"private_key": secret}
    engine = create_engine(normalise_url(store_url))
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT data FROM twoway_artifacts")).scalar_one()
    engine.dispose()
    assert b"TOP-SECRET" not in bytes(raw) and b"PRIVATE KEY" not in bytes(raw)


def test_idempotency_key_returns_the_same_job_and_refuses_another_body(store: Store) -> None:
    first, created = store.create_job(request(), idempotency_key="k-1")
    again, created_again = store.create_job(request(), idempotency_key="k-1")
    assert created and not created_again and again.id == first.id
    with pytest.raises(IdempotencyConflict, match="different request"):
        store.create_job(request(instance="other"), idempotency_key="k-1")


def test_concurrent_posts_with_one_key_make_one_job(store: Store) -> None:
    ids: list[str] = []

    def post() -> None:
        job, _ = store.create_job(request(), idempotency_key="same")
        ids.append(job.id)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 10 and len(set(ids)) == 1


def test_listing_filters_by_state_stage_and_instance(store: Store) -> None:
    a, _ = store.create_job(request())
    b, _ = store.create_job(request(instance="other"))
    store.transition(b.id, kind="failed", state=JobState.FAILED, stage=Stage.ENABLE)
    assert {j.id for j in store.list_jobs()} == {a.id, b.id}
    assert [j.id for j in store.list_jobs(states=[JobState.FAILED])] == [b.id]
    assert [j.id for j in store.list_jobs(stage=Stage.ENABLE)] == [b.id]
    assert [j.id for j in store.list_jobs(instance="prod")] == [a.id]
    assert store.count_jobs() == {"accepted": 1, "failed": 1}


def test_unknown_job_is_job_not_found(store: Store) -> None:
    with pytest.raises(JobNotFound):
        store.get_job("0" * 32)


def test_listeners_see_committed_events(store: Store) -> None:
    seen: list[str] = []
    store.add_listener(lambda event: seen.append(event.kind))
    job, _ = store.create_job(request())
    store.note(job.id, "servicenow_retry", {"status": 503})
    assert seen == ["job_accepted", "servicenow_retry"]


def test_master_key_rotation_reseals_everything(store_url: str) -> None:
    old, new = Sealer.generate_key(), Sealer.generate_key()
    store = Store(store_url, Sealer([old]))
    job, _ = store.create_job(request())
    store.artifacts.put_all(job.id, {"keystore_password": b"pw-abcdef"}, secret=True)
    assert store.artifacts.reseal_all(Sealer([new, old])) == 1
    assert Store(store_url, Sealer([new])).artifacts.get(job.id, "keystore_password") == (
        b"pw-abcdef"
    )


def test_a_signature_claimed_in_a_transition_commits_or_rolls_back_with_it(
    store: Store,
) -> None:
    job, _ = store.create_job(request())
    keep = timedelta(minutes=10)

    def move(signature: str) -> None:
        store.transition(
            job.id,
            kind="stage_started",
            expect={JobState.ACCEPTED},
            state=JobState.RUNNING,
            stage=Stage.GENERATE,
            within=lambda conn: store.signatures.claim_in(conn, signature, job.id, keep=keep),
        )

    assert store.signatures.claim("sha256=first", job.id, keep=keep)
    with pytest.raises(ReplayRefused):
        move("sha256=first")
    assert store.get_job(job.id).state is JobState.ACCEPTED
    assert [e.kind for e in store.history(job.id)] == ["job_accepted"]
    move("sha256=second")
    assert store.get_job(job.id).state is JobState.RUNNING
    assert not store.signatures.claim("sha256=second", job.id, keep=keep)


def test_renewing_extends_a_held_lease_but_never_recreates_a_freed_one(store: Store) -> None:
    job, _ = store.create_job(request())
    assert store.progress.acquire(job.id, Stage.ENABLE, "run-a", timedelta(seconds=5)) is None
    assert store.progress.renew(job.id, "run-a", timedelta(minutes=5))
    held = store.progress.lease_of(job.id)
    assert held is not None and held.owner == "run-a"
    store.progress.release(job.id, "run-a")
    assert not store.progress.renew(job.id, "run-a", timedelta(minutes=5))
    assert store.progress.lease_of(job.id) is None


def test_artifacts_written_with_an_outcome_roll_back_with_it(store: Store) -> None:
    """What a stage produced is written in the outcome's transaction: a name another run
    stored first refuses the write and the outcome with it; ``replace`` overwrites."""
    job, _ = store.create_job(request())
    store.artifacts.put_all(job.id, {"csr": b"the other run's"})
    store.artifacts.put_all(job.id, {"keystore": b"old keystore"})
    before = store.history(job.id)
    mine = [("csr", b"mine", False, False), ("private_key", b"k", False, False)]
    with pytest.raises(StateConflict, match="another run stored csr first"):
        store.transition(job.id, kind="done", within=lambda c: write_artifacts_in(c, job.id, mine))
    assert store.history(job.id) == before
    assert store.artifacts.get(job.id, "private_key") is None
    made = [("keystore", b"new keystore", False, True), ("private_key", b"k", False, False)]
    store.transition(job.id, kind="done", within=lambda c: write_artifacts_in(c, job.id, made))
    assert store.artifacts.get(job.id, "keystore") == b"new keystore"
    assert store.artifacts.get(job.id, "private_key") == b"k"
    assert store.artifacts.get(job.id, "csr") == b"the other run's"


def test_an_sqlite_too_old_for_the_store_is_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, sealer: Sealer
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(ConfigError, match=r"SQLite 3\.35 or newer; this Python links 3\.31\.1"):
        Store(f"sqlite:///{tmp_path}/old.sqlite3", sealer)


def test_a_write_blocks_writes_of_other_jobs_only_for_its_events_and_commit(
    pg_schema_url: str, sealer: Sealer
) -> None:
    """PostgreSQL: the lock that orders event ids is taken at the end of a write, so a
    write to one job held up half-way does not hold up a write to another job."""
    store = Store(pg_schema_url, sealer)
    first, _ = store.create_job(request())
    second, _ = store.create_job(request(), idempotency_key="another")
    inside, release = threading.Event(), threading.Event()

    def held(_conn: Any) -> None:
        inside.set()
        release.wait(30)

    def start(job_id: str, within: Any = None) -> threading.Thread:
        def run() -> None:
            store.transition(
                job_id,
                kind="stage_started",
                state=JobState.RUNNING,
                stage=Stage.GENERATE,
                notes=[("note", {"n": 1})],
                within=within,
            )

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    slow = start(first.id, held)
    assert inside.wait(10)
    fast = start(second.id)
    fast.join(timeout=10)
    passed = not fast.is_alive()
    release.set()
    slow.join()
    fast.join()
    assert passed, "the second job's write waited for the first job's"
    for job in (first, second):  # each write's events went in, in their order
        assert [e.kind for e in store.history(job.id)] == ["job_accepted", "note", "stage_started"]
    store.close()
