"""A real JVM loads our JKS as its KeyManager and talks to a server requiring client certs.

This is what ServiceNow's instance does with the uploaded keystore, so it is the proof
that the chain, the aliases and the key password are what Java expects.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import jks
import pytest

from messages.job import KeyType
from ops.dev.thirdparty import ThirdPartyServer
from workers.ca import Issued, LocalCa
from workers.pki import IssuedChain, build_jks, build_pkcs12, cert_to_der, new_keystore_password

if TYPE_CHECKING:
    from conftest import Enrollment

CLIENT = Path(__file__).with_name("MtlsClient.java")


def run_java(
    keystore: Path, password: str, trust: Path, url: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["java", str(CLIENT), str(keystore), password, str(trust), url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def server(local_ca: LocalCa) -> Iterator[ThirdPartyServer]:
    with ThirdPartyServer([local_ca.root_pem]) as running:
        yield running


def write_client(
    directory: Path, key_pem: bytes, chain: IssuedChain, server: ThirdPartyServer
) -> tuple[Path, str, Path]:
    password = new_keystore_password()
    keystore = directory / "client.jks"
    keystore.write_bytes(
        build_jks(private_key_pem=key_pem, chain=chain, alias="twoway", password=password)
    )
    trust = directory / "server-ca.pem"
    trust.write_bytes(server.server_ca_pem)
    return keystore, password, trust


@pytest.mark.slow
@pytest.mark.parametrize("case", ["ec256-one-intermediate", "rsa2048-two-intermediates"])
def test_java_completes_mutual_tls_with_our_keystore(
    case: str,
    tmp_path: Path,
    local_ca: LocalCa,
    local_ca_two: LocalCa,
    make_enrollment: Callable[..., Enrollment],
    verify_issued: Callable[[Issued, Enrollment], IssuedChain],
) -> None:
    ca, key_type = (
        (local_ca, KeyType.EC256) if case.startswith("ec") else (local_ca_two, KeyType.RSA2048)
    )
    enrollment = make_enrollment(key_type)
    issued = ca.submit(enrollment.csr_pem, request_key=f"jvm-{case}")
    assert isinstance(issued, Issued)
    chain = verify_issued(issued, enrollment)
    with ThirdPartyServer([ca.root_pem]) as server:
        keystore, password, trust = write_client(tmp_path, enrollment.key_pem, chain, server)
        result = run_java(keystore, password, trust, server.url)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("200 TLS_")
        assert '"client": "payments-client.example.com"' in result.stdout
        assert server.requests_served == 1


@pytest.mark.slow
def test_java_is_refused_when_the_server_trusts_another_ca(
    tmp_path: Path,
    sealer: object,
    enrollment: Enrollment,
    issued_chain: IssuedChain,
) -> None:
    other = LocalCa(tmp_path / "other-ca", sealer, intermediates=0)  # type: ignore[arg-type]
    with ThirdPartyServer([other.root_pem]) as server:
        keystore, password, trust = write_client(tmp_path, enrollment.key_pem, issued_chain, server)
        result = run_java(keystore, password, trust, server.url)
        assert result.returncode == 2, result.stdout + result.stderr
        # an SSLException with the alert, or (TLS 1.3) a broken pipe on the request
        assert result.stdout.startswith("FAILED "), result.stdout
        assert server.requests_served == 0


@pytest.mark.slow
def test_java_cannot_use_a_key_whose_password_differs(
    tmp_path: Path, enrollment: Enrollment, issued_chain: IssuedChain, server: ThirdPartyServer
) -> None:
    # the KB0824494 mistake, made with pyjks directly; our open_jks gives the same verdict
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(enrollment.key_pem, password=None)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    entry = jks.PrivateKeyEntry.new(
        "twoway", [cert_to_der(c) for c in issued_chain.all_certs], pkcs8
    )
    entry.encrypt("another-password")
    keystore = tmp_path / "mismatch.jks"
    keystore.write_bytes(jks.KeyStore.new("jks", [entry]).saves("store-password"))
    trust = tmp_path / "server-ca.pem"
    trust.write_bytes(server.server_ca_pem)
    result = run_java(keystore, "store-password", trust, server.url)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Cannot recover key" in result.stdout


@pytest.mark.slow
def test_java_uses_our_pkcs12_for_mutual_tls_and_keytool_lists_it(
    tmp_path: Path, enrollment: Enrollment, issued_chain: IssuedChain, server: ThirdPartyServer
) -> None:
    """A PKCS12 Key Store (keystore.format "pkcs12"), opened by the JVM as PKCS12: one
    PrivateKeyEntry under the alias with the full chain, and an mTLS handshake with it."""
    password = new_keystore_password()
    keystore = tmp_path / "client.p12"
    keystore.write_bytes(
        build_pkcs12(
            private_key_pem=enrollment.key_pem,
            chain=issued_chain,
            alias="twoway",
            password=password,
        )
    )
    listed = subprocess.run(
        ["keytool", "-list", "-v", "-storetype", "PKCS12", "-keystore", str(keystore),
         "-storepass", password],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Your keystore contains 1 entry" in listed.stdout
    assert "Alias name: twoway" in listed.stdout and "PrivateKeyEntry" in listed.stdout
    assert f"Certificate chain length: {len(issued_chain.all_certs)}" in listed.stdout
    trust = tmp_path / "server-ca.pem"
    trust.write_bytes(server.server_ca_pem)
    result = run_java(keystore, password, trust, server.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("200 TLS_")
    assert '"client": "payments-client.example.com"' in result.stdout


def test_our_pkcs12_uses_the_profile_every_jvm_reads(
    tmp_path: Path, enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    """PBE-SHA1-3DES for key and certificates, an HMAC-SHA1 MAC (workers/pki/pkcs12.py):
    read by Java before 8u301 / 11.0.12 too, unlike PBES2 with an HMAC-SHA256 MAC."""
    keystore = tmp_path / "client.p12"
    keystore.write_bytes(
        build_pkcs12(
            private_key_pem=enrollment.key_pem, chain=issued_chain, alias="twoway", password="pw"
        )
    )
    info = subprocess.run(
        ["openssl", "pkcs12", "-info", "-noout", "-legacy", "-in", str(keystore),
         "-passin", "pass:pw"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    said = info.stdout + info.stderr
    assert info.returncode == 0, said
    assert "MAC: sha1" in said, said
    assert "pbeWithSHA1And3-KeyTripleDES-CBC" in said and "AES" not in said, said
