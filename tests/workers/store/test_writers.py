"""SQLite writers queue on a lock file beside the database before they ask SQLite for its
write lock: the kernel hands the file lock over when its holder lets go or dies."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import text

from workers.store.engine import Writer, make_engines

_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""

_HOLD_AND_WAIT = """
import sys, time
from workers.store.engine import Writer, make_engines
writer = Writer(make_engines(sys.argv[1])[1])
with writer.begin() as conn:
    print("in", flush=True)
    time.sleep(3600)
"""


def _writer(tmp_path: Path) -> tuple[Writer, str, Path]:
    url = f"sqlite:///{tmp_path}/store.sqlite3"
    writer = Writer(make_engines(url)[1])
    with writer.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
    return writer, url, tmp_path / "store.sqlite3-writers.lock"


def _another_process_finds(lock: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, str(lock)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_write_transaction_holds_the_lock_file_until_it_ends(tmp_path: Path) -> None:
    writer, _, lock = _writer(tmp_path)
    assert _another_process_finds(lock) == "free"
    with writer.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert _another_process_finds(lock) == "held"
    assert _another_process_finds(lock) == "free"
    writer.dispose()


def test_a_writer_killed_inside_its_transaction_leaves_the_lock_to_the_others(
    tmp_path: Path,
) -> None:
    writer, url, _ = _writer(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_WAIT, url], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "in"
    wrote: list[int] = []

    def write() -> None:
        with writer.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (3)"))
            wrote.append(3)

    waiter = threading.Thread(target=write)
    waiter.start()
    holder.kill()
    holder.wait()
    waiter.join(timeout=120)  # a guard against hanging, not a measure of speed
    assert wrote == [3]
    writer.dispose()


def test_an_in_memory_database_needs_no_lock_file(tmp_path: Path) -> None:
    writer = Writer(make_engines("sqlite://")[1])
    with writer.begin() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    writer.dispose()
    assert list(tmp_path.iterdir()) == []
