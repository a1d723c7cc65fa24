"""The CLI's client side without a gateway: where it looks for one, the context file,
input files it cannot read, JSON errors with their exit codes, and a --help that imports
nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops.cli.client import (
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
    read_input,
    resolve,
    write_context,
)
from ops.cli.main import main


@pytest.fixture(autouse=True)
def no_gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("TWOWAY_URL", raising=False)
    monkeypatch.delenv("TWOWAY_TOKEN", raising=False)
    context = tmp_path / "ctx" / "context.json"
    monkeypatch.setenv("TWOWAY_CONTEXT", str(context))
    return context


def test_options_win_over_the_environment_which_wins_over_the_context(
    no_gateway: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = write_context("http://from-file/", "file-token")
    assert written == no_gateway and no_gateway.stat().st_mode & 0o777 == 0o600
    assert resolve() == resolve(None, None)
    assert (resolve().url, resolve().token) == ("http://from-file", "file-token")
    monkeypatch.setenv("TWOWAY_URL", "http://from-env")
    monkeypatch.setenv("TWOWAY_TOKEN", "env-token")
    assert (resolve().url, resolve().token) == ("http://from-env", "env-token")
    assert resolve("http://given", "given-token").url == "http://given"


def test_no_context_is_a_usage_error_that_says_how_to_make_one() -> None:
    with pytest.raises(CliError) as missing:
        resolve()
    assert missing.value.code == EXIT_USAGE and "twoway login" in missing.value.hint


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00binary"), "is not UTF-8 text"),
    ],
)
def test_an_input_file_it_cannot_read_is_a_usage_error(
    tmp_path: Path, make: object, says: str
) -> None:
    path = tmp_path / "job.json"
    make(path)  # type: ignore[operator]
    with pytest.raises(CliError) as bad:
        read_input(str(path))
    assert bad.value.code == EXIT_USAGE and says in bad.value.message


def test_errors_are_json_on_stderr_with_their_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["status", "0" * 32, "--url", "http://127.0.0.1:9", "--token", "t", "--json"]
    assert main(args) == EXIT_UNREACHABLE
    error = json.loads(capsys.readouterr().err)
    assert error["error"] == "GatewayUnreachable" and error["hint"]
    assert main(["submit", str(tmp_path), "--json"]) == EXIT_USAGE
    assert "is a directory" in json.loads(capsys.readouterr().err)["message"]


def test_help_imports_no_store_sqlalchemy_fastapi_or_pydantic() -> None:
    probe = (
        "import sys\nfrom ops.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('sqlalchemy', 'fastapi', 'pydantic', 'workers.store', 'dramatiq', 'requests')\n"
        "print([m for m in heavy if m in sys.modules], file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stderr.strip() == "[]"
