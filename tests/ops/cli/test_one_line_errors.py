"""Careless inputs end in one line naming the problem and the fix (exit 2), never a
traceback; ``twoway gateway`` says where it listens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.sealing import Sealer


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TWOWAY_STATE_DIR": str(tmp_path / "state"),
        "TWOWAY_MASTER_KEY": Sealer.generate_key(),
    }


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield int(listener.getsockname()[1])


def _twoway(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str], *says: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    for word in says:
        assert word in last, last


def test_demo_out_naming_a_file(env: dict[str, str], tmp_path: Path) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    _one_line(_twoway(env, "demo", "--out", str(a_file)), "--out", "not a directory")
    assert a_file.read_text() == "mine"


@pytest.mark.parametrize("command", ["sandbox", "gateway"])
def test_a_port_in_use(env: dict[str, str], busy_port: int, command: str) -> None:
    done = _twoway(env, command, "--port", str(busy_port))
    _one_line(done, f"port {busy_port} is in use", "--port")


@pytest.mark.parametrize("verb", [["list"], ["create", "--name", "me", "--role", "read"]])
def test_tokens_with_a_store_whose_directory_is_missing(
    env: dict[str, str], tmp_path: Path, verb: list[str]
) -> None:
    missing = tmp_path / "no" / "such" / "store.sqlite3"
    env = {**env, "TWOWAY_DATABASE_URL": f"sqlite:///{missing}"}
    _one_line(_twoway(env, "tokens", *verb), str(missing.parent), "mkdir -p")
    assert not missing.parent.exists()


def test_the_gateway_says_where_it_listens(env: dict[str, str]) -> None:
    gateway = subprocess.Popen(
        [sys.executable, "-m", "ops", "gateway", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert gateway.stderr is not None
        lines: list[str] = []
        for line in gateway.stderr:  # the line comes before the server serves
            lines.append(line)
            if "listening on http://127.0.0.1:" in line or len(lines) > 200:
                break
        assert "listening on http://127.0.0.1:" in lines[-1], lines
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)


def test_a_mistyped_option_gets_the_commands_usage_and_a_guess(env: dict[str, str]) -> None:
    done = _twoway(env, "submit", "job.json", "--wiat")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: twoway submit"), done.stderr
    assert "did you mean --wait?" in done.stderr
