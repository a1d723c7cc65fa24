"""`twoway demo --out DIR` writes a keystore that Java loads and uses for real mTLS, as a
Java Key Store and (``--keystore-format pkcs12``) as a PKCS12 Key Store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ops.dev.thirdparty import ThirdPartyServer

JAVA_CLIENT = Path(__file__).resolve().parents[1] / "workers" / "pki" / "MtlsClient.java"


@pytest.fixture(scope="module", params=["jks", "pkcs12"])
def demo_out(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    out = tmp_path_factory.mktemp(f"demo-{request.param}")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "demo",
            "--out",
            str(out),
            "--key",
            "rsa2048",
            "--keystore-format",
            request.param,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout
    return out


def keystore_file(out: Path) -> Path:
    (found,) = [p for p in out.iterdir() if p.name in ("keystore.jks", "keystore.p12")]
    return found


def test_demo_writes_the_files_with_a_private_password(demo_out: Path) -> None:
    for name in (
        keystore_file(demo_out).name,
        "keystore.password",
        "client-cert.pem",
        "client-cert.der",
        "ca-chain.pem",
        "summary.json",
    ):
        assert (demo_out / name).exists(), name
    assert (demo_out / "keystore.password").stat().st_mode & 0o777 == 0o600


def test_keytool_lists_one_private_key_entry_with_the_whole_chain(demo_out: Path) -> None:
    password = (demo_out / "keystore.password").read_text()
    listing = subprocess.run(
        [
            "keytool",
            "-list",
            "-v",
            "-keystore",
            str(keystore_file(demo_out)),
            "-storepass",
            password,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listing.count("Entry type: PrivateKeyEntry") == 1
    assert "Alias name: twoway\n" in listing
    assert "Certificate chain length: 3" in listing  # leaf, intermediate, root
    if keystore_file(demo_out).suffix == ".jks":
        assert listing.count("Entry type: trustedCertEntry") >= 2  # intermediate and root
    else:
        assert "Keystore type: PKCS12" in listing


def test_a_jvm_completes_an_https_request_with_the_demo_keystore(demo_out: Path) -> None:
    chain = x509.load_pem_x509_certificates((demo_out / "ca-chain.pem").read_bytes())
    root = chain[-1].public_bytes(Encoding.PEM)
    server = ThirdPartyServer([root]).start()
    try:
        trust = demo_out / "server.pem"
        trust.write_bytes(server.server_ca_pem)
        done = subprocess.run(
            [
                "java",
                str(JAVA_CLIENT),
                str(keystore_file(demo_out)),
                (demo_out / "keystore.password").read_text(),
                str(trust),
                server.url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert server.requests_served == 1
        assert "CN=servicenow-payments-client" in server.last_client_subjects[-1]
    finally:
        server.stop()
