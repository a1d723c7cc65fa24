"""`twoway demo --ca manual --out DIR`: the job pauses, hands out its CSR and the callback's
address; a CA the demo has never seen signs with openssl, `twoway ca-callback` calls back,
and the demo finishes with that CA's chain."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.factories import OpensslCa


def test_the_manual_demo_waits_for_the_callback_and_finishes_with_its_chain(
    tmp_path: Path,
) -> None:
    out, ca = tmp_path / "out", OpensslCa(tmp_path / "ca")
    demo = subprocess.Popen(
        [sys.executable, "-m", "ops", "demo", "--ca", "manual", "--out", str(out),
         "--key", "ec256", "--timeout", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "callback.json").exists():
            assert demo.poll() is None and time.monotonic() < deadline, "the demo never paused"
            time.sleep(0.1)
        assert (out / "callback.json").stat().st_mode & 0o777 == 0o600
        assert set(json.loads((out / "callback.json").read_text())) == {"url", "secret"}
        (tmp_path / "cert.pem").write_bytes(ca.sign((out / "csr.pem").read_bytes()))
        (tmp_path / "chain.pem").write_bytes(ca.chain_pem)
        called = subprocess.run(
            [sys.executable, "-m", "ops", "ca-callback", str(out / "callback.json"),
             "--cert", str(tmp_path / "cert.pem"), "--chain", str(tmp_path / "chain.pem")],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        assert called.returncode == 0 and called.stdout.startswith("202"), called.stdout
        output, _ = demo.communicate(timeout=120)
    finally:
        demo.kill()
    assert demo.returncode == 0, output
    assert "openssl x509 -req -in" in output and "twoway ca-callback" in output
    assert '"state": "succeeded"' in output
    assert (out / "ca-chain.pem").read_bytes() == ca.chain_pem
    assert (out / "client-cert.pem").read_bytes() == (tmp_path / "cert.pem").read_bytes()
    assert (out / "keystore.jks").exists()
    secret = json.loads((out / "callback.json").read_text())["secret"]
    assert secret not in output
