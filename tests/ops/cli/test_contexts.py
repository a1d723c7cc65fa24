"""Two ``twoway up`` on one machine: each owns a named context in the one context file;
the second does not take the first's away, and stopping it removes only its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.cli.contexts import forget_context, read_contexts, save_context


def _env(context: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TWOWAY_URL", "TWOWAY_TOKEN")}
    return {**env, "TWOWAY_CONTEXT": str(context)}


def _cli(context: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ops", *args]
    return subprocess.run(
        command, env=_env(context), capture_output=True, text=True, timeout=60, check=False
    )


class Up:
    def __init__(self, context: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ops", "up", "--broker", "stub"],
            env=_env(context),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.info: dict[str, Any] = json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


@pytest.fixture
def context(tmp_path: Path) -> Path:
    return tmp_path / "context.json"


@pytest.fixture
def first(context: Path) -> Iterator[Up]:
    up = Up(context)
    yield up
    if up.process.poll() is None:
        up.stop()


@pytest.mark.slow
def test_a_second_up_adds_its_own_context_and_takes_only_it_away(context: Path, first: Up) -> None:
    second = Up(context)
    try:
        listed = json.loads(_cli(context, "context", "list", "--json").stdout)
        names = {row["name"]: row for row in listed["contexts"]}
        assert set(names) == {first.info["context_name"], second.info["context_name"]}
        assert names[second.info["context_name"]]["current"]
        assert "token" not in json.dumps(listed)  # never shown
        mine = _cli(context, "jobs", "--json")
        assert mine.returncode == 0, mine.stderr
        used = _cli(context, "context", "use", first.info["context_name"])
        assert used.returncode == 0, used.stderr
        assert read_contexts(context)["current"] == first.info["context_name"]
        assert _cli(context, "context", "use", "nope").returncode == 3
    finally:
        second.stop()
    left = read_contexts(context)
    assert list(left["contexts"]) == [first.info["context_name"]]
    assert left["current"] == first.info["context_name"]
    assert _cli(context, "jobs").returncode == 0  # still talks to the first stack
    first.stop()
    assert not context.exists()  # the last context gone: the file too


def test_the_older_single_context_file_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "context.json"
    path.write_text(json.dumps({"url": "http://127.0.0.1:1", "token": "t"}))
    assert read_contexts(path) == {
        "current": "default",
        "contexts": {"default": {"url": "http://127.0.0.1:1", "token": "t"}},
    }
    save_context(path, "up-1", "http://127.0.0.1:2", "t2")
    assert read_contexts(path)["current"] == "up-1"
    assert path.stat().st_mode & 0o777 == 0o600
    forget_context(path, "up-1", "not its token")  # someone else's: kept
    assert "up-1" in read_contexts(path)["contexts"]
    forget_context(path, "up-1", "t2")
    assert read_contexts(path)["current"] == "default"
