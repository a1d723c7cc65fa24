"""A real ACME CA for tests: Debian's ``pebble`` with ``pebble-challtestsrv``.

Validation is on (no PEBBLE_VA_ALWAYS_VALID): pebble resolves names through challtestsrv,
which answers every A query with 127.0.0.1 and serves what the hook (tests/acme_hook.py)
publishes. Nonce rejection and authz reuse are left at pebble's defaults; only the VA's
random sleep (up to 15 s per validation) is switched off. Ports are chosen free; pebble's
TLS certificate is made here by the project's own test CA helper (workers.pki).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from messages import KeyType
from workers.pki import Authority, cert_to_pem
from workers.pki.authority import general_names
from workers.pki.keys import generate_private_key

__all__ = ["HOOK", "Pebble", "pebble_available"]

HOOK = Path(__file__).with_name("acme_hook.py")


def pebble_available() -> bool:
    return bool(shutil.which("pebble") and shutil.which("pebble-challtestsrv"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after 20 s: {log.read_text()[-2000:]}")


class Pebble:
    """``pebble`` and ``pebble-challtestsrv``; ``eab`` maps key ids to base64url HMAC keys
    and makes external account binding required."""

    def __init__(
        self,
        directory: Path,
        *,
        eab: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.dir = directory
        self.env = env or {}
        directory.mkdir(parents=True, exist_ok=True)
        self.eab = eab
        tls_ca = Authority.new_root(f"pebble tls {secrets.token_hex(3)}")
        key = generate_private_key(KeyType.EC256)
        leaf = tls_ca.issue(
            key,
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
            sans=general_names(["localhost", "127.0.0.1"]),
            extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,),
        )
        self.tls_root_file = directory / "tls-root.pem"
        self.tls_root_file.write_bytes(cert_to_pem(tls_ca.certificate))
        (directory / "tls.pem").write_bytes(cert_to_pem(leaf))
        (directory / "tls.key").write_bytes(key)
        self.port, self.management_port = _free_port(), _free_port()
        self.dns_port, self.http_port, self.cts_port = _free_port(), _free_port(), _free_port()
        self.directory_url = f"https://127.0.0.1:{self.port}/dir"
        self.challtestsrv_url = f"http://127.0.0.1:{self.cts_port}"
        self._processes: list[subprocess.Popen[bytes]] = []

    def _config(self) -> dict[str, Any]:
        return {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.port}",
                "managementListenAddress": f"127.0.0.1:{self.management_port}",
                "certificate": str(self.dir / "tls.pem"),
                "privateKey": str(self.dir / "tls.key"),
                "httpPort": self.http_port,
                "tlsPort": _free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": self.eab is not None,
                "externalAccountMACKeys": self.eab or {},
            }
        }

    def start(self) -> Pebble:
        cts_log = self.dir / "challtestsrv.log"
        cts = subprocess.Popen(
            ["pebble-challtestsrv", "-management", f"127.0.0.1:{self.cts_port}",
             "-dns01", f"127.0.0.1:{self.dns_port}", "-http01", f"127.0.0.1:{self.http_port}",
             "-https01", "", "-tlsalpn01", "", "-defaultIPv6", ""],
            stdout=cts_log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._processes.append(cts)
        _wait_listening(self.cts_port, cts, cts_log)
        (self.dir / "pebble.json").write_text(json.dumps(self._config()))
        env = {"PEBBLE_VA_NOSLEEP": "1", "PATH": "/usr/bin:/bin", **self.env}
        self.log = self.dir / "pebble.log"
        pebble = subprocess.Popen(
            ["pebble", "-config", str(self.dir / "pebble.json"),
             "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self._processes.append(pebble)
        _wait_listening(self.port, pebble, self.log)
        return self

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.terminate()
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    def hook_command(self) -> list[str]:
        return [sys.executable, str(HOOK), self.challtestsrv_url]

    def requests_to(self, path: str) -> int:
        """How many POSTs pebble received at ``path`` (its log names each)."""
        return self.log.read_text(errors="replace").count(f"POST {path} ->")

    def orders_created(self) -> int:
        """Orders pebble made (its log has one "Added order" line for each)."""
        return self.log.read_text(errors="replace").count("Added order")

    def root_pem(self) -> bytes:
        """The root pebble issues under (made anew at each start), from its management API."""
        context = ssl.create_default_context(cafile=str(self.tls_root_file))
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            data: bytes = answer.read()
        return data

    def write_root(self) -> Path:
        path = self.dir / "pebble-root.pem"
        path.write_bytes(self.root_pem())
        return path
