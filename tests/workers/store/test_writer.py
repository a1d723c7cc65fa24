"""Group commit on SQLite: callers queued behind each other share one transaction, each in
a savepoint, and none returns before the commit. Real SQLite files, real threads."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text

from messages import JobRequest
from tests.factories import good
from workers.sealing import Sealer
from workers.store import Store
from workers.store.engine import make_engines
from workers.store.writer import Writer

QUEUE_S = 0.3  # long enough for a started thread to be queued on the writer
HELD_S = 0.2  # how long a test holds the write lock


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Writer, Path, list[str]]]:
    """A writer on a new SQLite file with a table ``t(name)``, and the COMMITs it issues."""
    path = tmp_path / "w.sqlite3"
    _reader, engine = make_engines(f"sqlite:///{path}")
    commits: list[str] = []
    event.listen(engine, "commit", lambda _conn: commits.append("commit"))
    writer = Writer(engine)
    with writer.begin() as conn:
        conn.execute(text("CREATE TABLE t (name TEXT PRIMARY KEY)"))
    commits.clear()
    yield writer, path, commits
    writer.dispose()


def _insert(conn: Connection, name: str) -> None:
    conn.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": name})


def _committed(path: Path) -> set[str]:
    """What another connection (another process, as far as SQLite knows) can read."""
    with sqlite3.connect(path) as other:
        return {row[0] for row in other.execute("SELECT name FROM t")}


def _caller(
    writer: Writer, name: str, results: dict[str, Any], body: Callable[[], None] = lambda: None
) -> threading.Thread:
    def run() -> None:
        try:
            with writer.begin() as conn:
                _insert(conn, name)
                body()
        except Exception as exc:
            results[name] = exc
        else:
            results[name] = "ok"

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _first_then(writer: Writer, name: str, queued: Callable[[], list[threading.Thread]]) -> None:
    """Hold the turn in ``name``'s transaction until ``queued()``'s threads wait behind."""
    with writer.begin() as conn:
        _insert(conn, name)
        threads = queued()
        time.sleep(QUEUE_S)
    for thread in threads:
        thread.join()


def test_callers_queued_behind_each_other_share_one_commit(
    db: tuple[Writer, Path, list[str]],
) -> None:
    writer, path, commits = db
    results: dict[str, Any] = {}
    _first_then(writer, "a", lambda: [_caller(writer, n, results) for n in ("b", "c", "d")])
    assert results == {"b": "ok", "c": "ok", "d": "ok"}
    assert _committed(path) == {"a", "b", "c", "d"}
    assert len(commits) == 1  # without grouping, one each: 4


def test_a_caller_alone_commits_at_once(db: tuple[Writer, Path, list[str]]) -> None:
    writer, path, commits = db
    for name in ("a", "b"):
        with writer.begin() as conn:
            _insert(conn, name)
        assert name in _committed(path)
    assert len(commits) == 2


def test_a_lone_caller_that_fails_leaves_nothing(db: tuple[Writer, Path, list[str]]) -> None:
    writer, path, commits = db
    with pytest.raises(ValueError, match="own error"), writer.begin() as conn:
        _insert(conn, "a")
        raise ValueError("its own error")
    assert _committed(path) == set()
    assert commits == []
    with writer.begin() as conn:  # the next caller opens a new transaction
        _insert(conn, "b")
    assert _committed(path) == {"b"}


def test_a_failing_first_caller_does_not_take_the_queued_ones_down(
    db: tuple[Writer, Path, list[str]],
) -> None:
    writer, path, _commits = db
    results: dict[str, Any] = {}
    threads: list[threading.Thread] = []
    with pytest.raises(ValueError, match="first's error"), writer.begin() as conn:
        _insert(conn, "a")
        threads += [_caller(writer, n, results) for n in ("b", "c")]
        time.sleep(QUEUE_S)
        raise ValueError("first's error")
    for thread in threads:
        thread.join()
    assert results == {"b": "ok", "c": "ok"}
    assert _committed(path) == {"b", "c"}


def test_no_caller_returns_before_its_group_commits(db: tuple[Writer, Path, list[str]]) -> None:
    """``a`` hands the transaction to ``b``, whose work is slow: ``a`` must not return
    until ``b`` is done and the group committed, or what ``a`` does next (answer 202,
    publish) would run on writes not yet in the database."""
    writer, path, _commits = db
    release = threading.Event()
    seen_on_return: set[str] = set()
    results: dict[str, Any] = {}

    def first() -> None:
        with writer.begin() as conn:
            _insert(conn, "a")
            results["b-thread"] = _caller(writer, "b", results, body=release.wait)
            time.sleep(QUEUE_S)
        seen_on_return.update(_committed(path))

    a = threading.Thread(target=first)
    a.start()
    time.sleep(QUEUE_S * 2)
    open_while_b_works = a.is_alive()
    release.set()
    a.join()
    assert open_while_b_works, "a returned while its group was still open"
    results.pop("b-thread").join()
    assert seen_on_return == {"a", "b"}
    assert results == {"b": "ok"}


def test_a_failing_caller_loses_only_its_own_writes(db: tuple[Writer, Path, list[str]]) -> None:
    writer, path, commits = db
    results: dict[str, Any] = {}

    def fail() -> None:
        raise ValueError("b's own error")

    _first_then(
        writer,
        "a",
        lambda: [
            _caller(writer, "b", results, body=fail),
            *(time.sleep(0.05), _caller(writer, "c", results))[1:],
        ],
    )
    assert isinstance(results["b"], ValueError)
    assert str(results["b"]) == "b's own error"
    assert results["c"] == "ok"
    assert _committed(path) == {"a", "c"}
    assert len(commits) == 1


def test_a_constraint_error_in_a_group_is_the_callers_alone(
    db: tuple[Writer, Path, list[str]],
) -> None:
    """SQLite undoes a failed statement, not the transaction: the group goes on."""
    writer, path, _commits = db
    results: dict[str, Any] = {}
    _first_then(writer, "a", lambda: [_caller(writer, "a", results)])
    assert "UNIQUE" in str(results["a"])
    assert _committed(path) == {"a"}


def test_begin_inside_begin_on_one_thread_is_refused(db: tuple[Writer, Path, list[str]]) -> None:
    writer, path, _commits = db
    with writer.begin() as conn:
        _insert(conn, "a")
        with pytest.raises(RuntimeError, match="inside a write transaction"), writer.begin():
            pass
    assert _committed(path) == {"a"}
    with writer.begin() as conn:  # and the writer is usable after
        _insert(conn, "b")
    assert _committed(path) == {"a", "b"}


def test_same_idempotency_key_twice_in_one_group_gives_the_first_job(
    tmp_path: Path, sealer: Sealer
) -> None:
    """Both submits read 'no such key' before queuing; the second's insert then conflicts
    with the first's row in the same, not yet committed, group (slow callers queued after
    them keep it open). It must return the first job: it reads again only after the group
    committed."""
    store = Store(f"sqlite:///{tmp_path}/s.sqlite3", sealer)
    request = JobRequest.model_validate(good())
    got: list[tuple[str, bool]] = []

    def submit() -> None:
        job, created = store.create_job(request, idempotency_key="same-key")
        got.append((job.id, created))

    def slow() -> None:
        with store._writer.begin():
            time.sleep(QUEUE_S)

    try:
        with store._writer.begin():  # hold the turn so that both submits queue behind it
            threads = [threading.Thread(target=submit) for _ in range(2)]
            for thread in threads:
                thread.start()
            time.sleep(QUEUE_S)
            threads += [threading.Thread(target=slow) for _ in range(2)]
            for thread in threads[2:]:
                thread.start()
            time.sleep(QUEUE_S)
        for thread in threads:
            thread.join()
        assert sorted(created for _id, created in got) == [False, True]
        assert len({job_id for job_id, _created in got}) == 1
    finally:
        store.close()


@contextmanager
def _held_by_another_connection(writer: Writer, path: Path) -> Iterator[None]:
    """SQLite's write lock, held by another connection (to SQLite: another process)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield
    other.execute("COMMIT")
    other.close()


@contextmanager
def _held_by_this_process(writer: Writer, path: Path) -> Iterator[None]:
    """The process's write turn, held by another thread's transaction."""
    with writer.begin() as conn:
        _insert(conn, "holder")
        yield


@pytest.mark.parametrize("holder", [_held_by_another_connection, _held_by_this_process])
def test_the_wait_for_the_write_lock_is_observed(
    db: tuple[Writer, Path, list[str]],
    holder: Callable[[Writer, Path], AbstractContextManager[None]],
) -> None:
    writer, path, _ = db
    waits: list[float] = []
    writer.on_wait = waits.append
    with writer.begin() as conn:  # nobody else writes: ready at once
        _insert(conn, "alone")
    results: dict[str, Any] = {}
    with holder(writer, path):
        thread = _caller(writer, "blocked", results)
        time.sleep(HELD_S)
    thread.join()
    assert results == {"blocked": "ok"}
    *ready, blocked = waits
    assert ready and all(wait < HELD_S for wait in ready)
    assert blocked >= HELD_S / 2  # most of the time the lock was held
