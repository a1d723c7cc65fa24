"""``twoway sandbox [--port N]``: the instance alone, announced by one JSON line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_sandbox_command_prints_its_url_and_login_and_serves() -> None:
    port = free_port()
    command = [sys.executable, "-m", "ops", "sandbox", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        assert set(line) == {"url", "username", "password", "roles"}
        assert line["roles"] == ["admin"]
        assert line["url"] == f"http://127.0.0.1:{port}"
        answer = requests.get(
            f"{line['url']}/api/now/table/sys_rest_message",
            params={"sysparm_fields": "name"},
            auth=(line["username"], line["password"]),
            headers={"Accept": "application/json"},
            timeout=10,
        )
        assert answer.status_code == 200
        assert {"name": "Payments API"} in answer.json()["result"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_the_sandbox_command_starts_an_integration_user_without_admin() -> None:
    command = [sys.executable, "-m", "ops", "sandbox", "--roles", "web_service_admin"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        assert line["roles"] == ["web_service_admin"]
        login, headers = (line["username"], line["password"]), {"Accept": "application/json"}

        def status(table: str) -> int:
            url = f"{line['url']}/api/now/table/{table}"
            return requests.get(url, auth=login, headers=headers, timeout=10).status_code

        assert status("sys_rest_message") == 200  # web_service_admin manages messages
        assert status("sys_certificate") == status("sys_protocol_profile") == 403
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
