"""The runbook, scripted: what a person runs with keytool and openssl, timed.

Per job: ``keytool -genkeypair``, ``keytool -certreq``, ``openssl x509 -req`` as the CA,
``keytool -importcert`` of the root, then of the signed certificate (the runbook's
order). Wall and CPU seconds (of the child processes) per job.
"""

from __future__ import annotations

import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunbookResult", "run_runbook"]


@dataclass
class RunbookResult:
    jobs: int
    wall_s: float
    cpu_s: float

    @property
    def cpu_s_per_job(self) -> float:
        return self.cpu_s / self.jobs

    @property
    def wall_s_per_job(self) -> float:
        return self.wall_s / self.jobs


def _run(*command: str, cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, timeout=300)


def _make_ca(work: Path) -> None:
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=runbook CA",
        cwd=work,
    )


def _one_job(work: Path, index: int, key: str) -> None:
    store, password = f"job{index}.jks", "changeit-runbook"
    keyalg = (
        ["-keyalg", "EC", "-groupname", "secp256r1"]
        if key == "ec256"
        else ["-keyalg", "RSA", "-keysize", "2048"]
    )
    keytool = [
        "keytool",
        "-noprompt",
        "-keystore",
        store,
        "-storepass",
        password,
        "-keypass",
        password,
    ]
    _run(
        *keytool,
        "-genkeypair",
        "-alias",
        "client",
        *keyalg,
        "-dname",
        f"CN=runbook-client-{index}",
        cwd=work,
    )
    _run(*keytool, "-certreq", "-alias", "client", "-file", f"job{index}.csr", cwd=work)
    _run(
        "openssl",
        "x509",
        "-req",
        "-in",
        f"job{index}.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        f"job{index}.pem",
        "-days",
        "30",
        cwd=work,
    )
    _run(*keytool, "-importcert", "-alias", "root", "-file", "ca.pem", cwd=work)
    _run(*keytool, "-importcert", "-alias", "client", "-file", f"job{index}.pem", cwd=work)


def run_runbook(jobs: int, key: str) -> RunbookResult:
    with tempfile.TemporaryDirectory(prefix="twoway-runbook-") as folder:
        work = Path(folder)
        _make_ca(work)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        for index in range(jobs):
            _one_job(work, index, key)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return RunbookResult(jobs=jobs, wall_s=wall, cpu_s=cpu)
