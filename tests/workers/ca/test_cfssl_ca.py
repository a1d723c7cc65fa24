"""The cfssl adapter against a real ``cfssl serve``: sign, authsign, errors, the chain."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from messages import KeyType, SubjectName
from tests.factories import CfsslServer
from workers.ca import CfsslCa, Issued
from workers.config import CfsslCaProfile, load_config
from workers.errors import CaRejected, CaUnavailable, ConfigError
from workers.machinery.deps import CaRegistry
from workers.pki import build_csr, cert_to_pem, check_issued, generate_private_key
from workers.sealing import Sealer

SUBJECT = SubjectName(cn="cfssl-client", o="twoway tests", c="DE")
SANS = ["cfssl-client.example.internal"]


@pytest.fixture(scope="module")
def cfssl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CfsslServer]:
    server = CfsslServer(tmp_path_factory.mktemp("cfssl")).start()
    yield server
    server.stop()


def csr() -> bytes:
    return build_csr(generate_private_key(KeyType.EC256), SUBJECT, SANS)


def adapter(cfssl: CfsslServer, profile: str, auth_key_hex: str | None = None) -> CfsslCa:
    return CfsslCa(
        "test", cfssl.url, profile=profile, auth_key_hex=auth_key_hex, extra_roots=(cfssl.root_pem,)
    )


def test_authsign_signs_the_csr_once_with_a_chain_that_checks(cfssl: CfsslServer) -> None:
    request = csr()
    before = cfssl.signed()
    issued = adapter(cfssl, profile="client", auth_key_hex=cfssl.auth_key).submit(
        request, request_key="job-1"
    )
    assert isinstance(issued, Issued)
    assert cfssl.signed() == before + 1
    chain = check_issued(
        certificate_pem=issued.certificate_pem,
        chain_pem=issued.chain_pem,
        csr_pem=request,
        subject=SUBJECT,
        dns_sans=SANS,
        min_remaining=timedelta(days=1),
    )
    assert cert_to_pem(chain.root) == cfssl.root_pem  # the signer from info, then the root
    assert [cert_to_pem(c) for c in chain.intermediates] == [cfssl.signer_pem]
    assert issued.request_id == format(chain.leaf.serial_number, "x")


def test_sign_without_auth_on_an_open_profile(cfssl: CfsslServer) -> None:
    issued = adapter(cfssl, profile="open").submit(csr(), request_key="job-2")
    assert isinstance(issued, Issued) and b"BEGIN CERTIFICATE" in issued.certificate_pem


def test_a_profile_that_needs_authsign_refuses_a_plain_sign(cfssl: CfsslServer) -> None:
    with pytest.raises(CaRejected, match="authentication required") as refused:
        adapter(cfssl, profile="client").submit(csr(), request_key="job-3")
    assert "auth_key_env" in refused.value.hint


def test_a_wrong_auth_key_is_refused(cfssl: CfsslServer) -> None:
    before = cfssl.signed()
    with pytest.raises(CaRejected, match="invalid token"):
        adapter(cfssl, profile="client", auth_key_hex="ab" * 16).submit(csr(), request_key="j")
    assert cfssl.signed() == before


def test_a_csr_cfssl_cannot_read_is_refused(cfssl: CfsslServer) -> None:
    with pytest.raises(CaRejected, match="9002 CSR Decode failed"):
        adapter(cfssl, profile="open").submit(b"not a CSR", request_key="job-4")


def test_an_unreachable_cfssl_is_transient(cfssl: CfsslServer) -> None:
    gone = CfsslCa("gone", "http://127.0.0.1:9", timeout=(0.5, 0.5))
    with pytest.raises(CaUnavailable, match="cannot be reached"):
        gone.submit(csr(), request_key="job-5")


def test_a_configured_chain_file_is_used_as_is(cfssl: CfsslServer) -> None:
    given = cfssl.signer_pem + cfssl.root_pem
    issued = CfsslCa("test", cfssl.url, profile="open", chain_pem=given).submit(
        csr(), request_key="x"
    )
    assert isinstance(issued, Issued) and issued.chain_pem == given


def test_the_registry_builds_the_adapter_from_the_profile_and_environment(
    cfssl: CfsslServer, tmp_path: Path
) -> None:
    profile = CfsslCaProfile(
        adapter="cfssl",
        url=cfssl.url,
        profile="client",
        auth_key_env="TEST_CFSSL_KEY",
        trusted_roots_file=cfssl.root_file,
    )
    base = load_config()
    config = base.model_copy(update={"ca": {**base.ca, "corp": profile}})
    sealer = Sealer([Sealer.generate_key()])
    registry = CaRegistry(config, tmp_path, sealer, environ={"TEST_CFSSL_KEY": cfssl.auth_key})
    issued = registry.get("corp").submit(csr(), request_key="job-6")
    assert isinstance(issued, Issued) and cfssl.root_pem.strip() in issued.chain_pem
    with pytest.raises(ConfigError, match="TEST_CFSSL_KEY is not set"):
        CaRegistry(config, tmp_path, sealer, environ={}).get("corp")
