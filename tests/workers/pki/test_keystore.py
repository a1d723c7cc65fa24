"""JKS assembly, checked with keytool (what ServiceNow's JVM reads) and pyjks round trips."""

from __future__ import annotations

import re
import string
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import jks
import pytest

from messages.job import KeyType
from workers.ca import LocalCa
from workers.errors import CertificateRejected, VerificationFailed
from workers.pki import (
    IssuedChain,
    build_jks,
    cert_to_der,
    generate_private_key,
    new_keystore_password,
    open_jks,
    parse_certificates,
)

if TYPE_CHECKING:
    from conftest import Enrollment


def keytool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["keytool", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def keystore(tmp_path: Path, enrollment: Enrollment, issued_chain: IssuedChain) -> tuple[Path, str]:
    password = new_keystore_password()
    path = tmp_path / "client.jks"
    path.write_bytes(
        build_jks(
            private_key_pem=enrollment.key_pem,
            chain=issued_chain,
            alias="payments",
            password=password,
        )
    )
    return path, password


def test_keytool_lists_one_key_entry_with_the_full_chain(keystore: tuple[Path, str]) -> None:
    path, password = keystore
    listing = keytool("-list", "-v", "-keystore", str(path), "-storepass", password)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    out = listing.stdout
    assert "Keystore type: JKS" in out
    assert "Your keystore contains 3 entries" in out
    entries = dict(re.findall(r"Alias name: (\S+)\n.*?Entry type: (\S+)", out, re.DOTALL))
    assert entries == {
        "payments": "PrivateKeyEntry",
        "payments-intermediate-1": "trustedCertEntry",
        "payments-root": "trustedCertEntry",
    }
    assert "Certificate chain length: 3" in out  # leaf + intermediate + root
    assert password not in out


def test_java_recovers_the_key_with_the_store_password(keystore: tuple[Path, str]) -> None:
    # importkeystore must decrypt the key entry: it uses the store password as key password
    path, password = keystore
    target = path.with_suffix(".p12")
    converted = keytool(
        "-importkeystore", "-noprompt",
        "-srckeystore", str(path), "-srcstorepass", password,
        "-destkeystore", str(target), "-deststoretype", "pkcs12", "-deststorepass", password,
    )  # fmt: skip
    assert converted.returncode == 0, converted.stdout + converted.stderr
    assert "3 entries successfully imported" in converted.stdout + converted.stderr


def test_wrong_password_is_refused_by_keytool_and_open_jks(keystore: tuple[Path, str]) -> None:
    path, _ = keystore
    listing = keytool("-list", "-keystore", str(path), "-storepass", "not-the-password")
    assert "Keystore was tampered with, or password was incorrect" in listing.stdout
    with pytest.raises(VerificationFailed) as caught:
        open_jks(path.read_bytes(), "not-the-password", "payments")
    assert caught.value.check == "keystore_password"
    assert caught.value.message == "Keystore was tampered with, or password was incorrect"


def test_open_jks_round_trip(
    keystore: tuple[Path, str], enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    path, password = keystore
    contents = open_jks(path.read_bytes(), password, "PAYMENTS")  # JKS aliases ignore case
    assert contents.private_key_pem == enrollment.key_pem
    assert contents.chain == issued_chain.all_certs
    assert contents.trusted == {
        "payments-intermediate-1": issued_chain.intermediates[0],
        "payments-root": issued_chain.root,
    }
    assert b"PRIVATE" not in repr(contents).encode()


def test_no_key_entry_under_the_alias(keystore: tuple[Path, str]) -> None:
    path, password = keystore
    with pytest.raises(VerificationFailed) as caught:
        open_jks(path.read_bytes(), password, "other")
    assert caught.value.check == "keystore_entry"
    assert "no PrivateKeyEntry under alias 'other'" in caught.value.message


def test_key_password_differing_from_store_password(
    tmp_path: Path, enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    # what keytool -keypass X -storepass Y makes, the mistake of KB0824494
    entry = jks.PrivateKeyEntry.new(
        "payments", [cert_to_der(c) for c in issued_chain.all_certs], _pkcs8(enrollment.key_pem)
    )
    entry.encrypt("key-password")
    data = jks.KeyStore.new("jks", [entry]).saves("store-password")
    with pytest.raises(VerificationFailed) as caught:
        open_jks(data, "store-password", "payments")
    assert caught.value.check == "keystore_password"
    assert "Cannot recover key" in caught.value.message
    assert "key-password" not in str(caught.value) and "store-password" not in str(caught.value)


def test_not_a_keystore() -> None:
    with pytest.raises(VerificationFailed) as caught:
        open_jks(b"PK\x03\x04 a zip file", "password", "payments")
    assert caught.value.check == "keystore_format"


def test_building_twice_gives_identical_bytes(
    enrollment: Enrollment, issued_chain: IssuedChain
) -> None:
    password = new_keystore_password()
    first = build_jks(
        private_key_pem=enrollment.key_pem, chain=issued_chain, alias="a", password=password
    )
    again = build_jks(
        private_key_pem=enrollment.key_pem, chain=issued_chain, alias="a", password=password
    )
    assert first == again
    other = build_jks(
        private_key_pem=enrollment.key_pem,
        chain=issued_chain,
        alias="a",
        password=new_keystore_password(),
    )
    assert other != first


def test_extra_trusted_server_certificate(
    enrollment: Enrollment, issued_chain: IssuedChain, local_ca: LocalCa
) -> None:
    password = new_keystore_password()
    server = parse_certificates(local_ca.ca_chain_pem)[0]  # any certificate will do
    extra = [issued_chain.root, server, server]  # duplicates are stored once
    data = build_jks(
        private_key_pem=enrollment.key_pem,
        chain=issued_chain,
        alias="payments",
        password=password,
        extra_trusted=extra,
    )
    trusted = open_jks(data, password, "payments").trusted
    assert sorted(trusted) == ["payments-intermediate-1", "payments-root"]
    other_server = parse_certificates(_other_certificate())[0]
    data = build_jks(
        private_key_pem=enrollment.key_pem,
        chain=issued_chain,
        alias="payments",
        password=password,
        extra_trusted=[other_server],
    )
    assert open_jks(data, password, "payments").trusted["payments-trusted-1"] == other_server


def test_key_that_does_not_belong_to_the_certificate(issued_chain: IssuedChain) -> None:
    with pytest.raises(CertificateRejected, match="does not belong to the certificate"):
        build_jks(
            private_key_pem=generate_private_key(KeyType.EC256),
            chain=issued_chain,
            alias="payments",
            password=new_keystore_password(),
        )


def test_new_keystore_password() -> None:
    passwords = {new_keystore_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) >= 24
        assert set(password) <= set(string.ascii_letters + string.digits)


def _pkcs8(pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _other_certificate() -> bytes:
    from workers.pki import Authority, cert_to_pem

    return cert_to_pem(Authority.new_root("Third Party Server").certificate)
