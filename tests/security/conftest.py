"""The security suite: each test is a probe an attacker on the network (or a careless
caller) could try, against a real gateway process (``twoway up --broker stub`` on an
OS-chosen port). At the end the suite prints a table of probes tried and held, and writes
it to ``$TWOWAY_SECURITY_REPORT`` (default: ``twoway-security-probes.txt`` in the temp
directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

_RESULTS: dict[str, str] = {}
_HERE = Path(__file__).parent


@dataclass(frozen=True)
class Gateway:
    """A running ``twoway up`` process: its gateway's URL, a token and its pid."""

    url: str
    host: str
    port: int
    token: str
    callback_secret: str
    info: dict[str, Any]
    pid: int
    log: Path

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS for the gateway process")


# Short bounds so that the probes of the server's deadlines finish quickly.
BOUNDS = {"TWOWAY_GATEWAY_REQUEST_TIMEOUT": "1", "TWOWAY_GATEWAY_KEEP_ALIVE": "1"}


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    work = tmp_path_factory.mktemp("security-up")
    env = {**os.environ, **BOUNDS}
    stderr = (work / "stderr.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "ops", "up", "--broker", "stub"],
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=work,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"twoway up did not start: {(work / 'stderr.log').read_text()}")
        info = json.loads(line)
        url = info["gateway"]
        host, port = url.removeprefix("http://").split(":")
        _wait_healthy(url)
        yield Gateway(
            url=url,
            host=host,
            port=int(port),
            token=info["token"],
            callback_secret=info["callback_secret"],
            info=info,
            pid=process.pid,
            log=work / "stderr.log",
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr.close()


def _wait_healthy(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError("the gateway never answered /healthz")


def _probe_name(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or item.name
    name = " ".join(doc.split("\n\n")[0].split())
    callspec = getattr(item, "callspec", None)
    return f"{name} [{callspec.id}]" if callspec is not None else name


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if not Path(str(item.fspath)).is_relative_to(_HERE):
        return
    if call.when == "call" or (call.when == "setup" and call.excinfo is not None):
        held = call.excinfo is None
        if call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
            _RESULTS[_probe_name(item)] = "skipped"
        else:
            _RESULTS[_probe_name(item)] = "held" if held else "FAILED"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    held = sum(result == "held" for result in _RESULTS.values())
    width = max(len(name) for name in _RESULTS)
    lines = [f"{'probe':<{width}}  result", f"{'-' * width}  ------"]
    lines += [f"{name:<{width}}  {result}" for name, result in _RESULTS.items()]
    summary = f"security probes: {len(_RESULTS)} tried, {held} held"
    lines.append(summary)
    default = Path(tempfile.gettempdir()) / "twoway-security-probes.txt"
    report = Path(os.environ.get("TWOWAY_SECURITY_REPORT", str(default)))
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    terminalreporter.section("security probes")
    for line in lines:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(table written to {report})")
