"""The /sandbox/ control plane and ``serve()`` for a sandbox in another process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests

from ops.dev.sandbox import SandboxServer


def test_control_plane(srv: SandboxServer) -> None:
    auth = (srv.username, srv.password)
    assert requests.get(srv.url + "/sandbox/dump", timeout=5).status_code == 401
    readonly = (srv.readonly_username, srv.readonly_password)
    assert requests.get(srv.url + "/sandbox/dump", auth=readonly, timeout=5).status_code == 401
    dump = requests.get(srv.url + "/sandbox/dump", auth=auth, timeout=5).json()
    assert dump["sys_rest_message"][0]["name"] == "Payments API"

    plan = {"rate": 1.0, "kinds": ["503"], "paths": ["/api/now/table/sys_certificate"]}
    answer = requests.put(srv.url + "/sandbox/faults", json=plan, auth=auth, timeout=5)
    assert answer.status_code == 200
    headers = {"Accept": "application/json"}
    url = srv.url + "/api/now/table/sys_certificate"
    assert requests.get(url, auth=auth, headers=headers, timeout=5).status_code == 503
    served = requests.get(srv.url + "/sandbox/faults", auth=auth, timeout=5).json()["served"]
    assert served == {"503": 1}
    bad = requests.put(srv.url + "/sandbox/faults", json={"rate": 2}, auth=auth, timeout=5)
    assert bad.status_code == 400
    assert requests.delete(srv.url + "/sandbox/faults", auth=auth, timeout=5).status_code == 200
    assert requests.get(url, auth=auth, headers=headers, timeout=5).status_code == 200

    body = {"name": "Orders API", "endpoint": "https://orders.example.test", "methods": ["get"]}
    created = requests.post(srv.url + "/sandbox/rest_messages", json=body, auth=auth, timeout=5)
    assert created.status_code == 201
    methods = [
        r
        for r in srv.dump()["sys_rest_message_fn"]
        if r["rest_message"] == created.json()["sys_id"]
    ]
    assert [m["function_name"] for m in methods] == ["get"]

    prop = requests.put(
        srv.url + "/sandbox/properties/glide.attachment.extensions",
        json={"value": "pdf"},
        auth=auth,
        timeout=5,
    )
    assert prop.status_code == 200
    assert srv.store.property("glide.attachment.extensions") == "pdf"
    assert requests.get(srv.url + "/sandbox/broken_keystores", auth=auth, timeout=5).json() == []


def test_seeding_helpers(srv: SandboxServer) -> None:
    rest = srv.add_rest_message("Orders", "https://orders.example.test", methods=("get", "put"))
    soap = srv.add_soap_message("Books", "https://books.example.test/soap")
    dump = srv.dump()
    assert {
        r["function_name"] for r in dump["sys_rest_message_fn"] if r["rest_message"] == rest
    } == {"get", "put"}
    assert [r["soap_message"] for r in dump["sys_soap_message_function"]].count(soap) == 1


def test_serve_prints_one_json_line_and_stops_on_sigterm() -> None:
    code = "from ops.dev.sandbox import serve; serve()"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = json.loads(proc.stdout.readline())
            assert set(line) == {"url", "username", "password", "roles"}
            response = requests.get(
                line["url"] + "/api/now/table/sys_rest_message",
                auth=(line["username"], line["password"]),
                headers={"Accept": "application/json"},
                timeout=5,
            )
            assert response.json()["result"][0]["name"] == "Payments API"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
