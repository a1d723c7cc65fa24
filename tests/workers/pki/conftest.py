"""Shared material for the pki tests: a sealer, two local CAs and one issued request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from messages.job import KeyType, SubjectName
from workers.ca import Issued, LocalCa
from workers.pki import IssuedChain, build_csr, check_issued, generate_private_key
from workers.sealing import Sealer

SUBJECT = SubjectName(
    cn="payments-client.example.com", ou="Payments", o="Acme", l="Berlin", st="Berlin", c="DE"
)
SANS = ["payments-client.example.com", "alt.example.com"]


@dataclass(frozen=True)
class Enrollment:
    key_pem: bytes
    csr_pem: bytes
    subject: SubjectName
    dns_sans: list[str]


def enroll(key_type: KeyType = KeyType.EC256) -> Enrollment:
    key = generate_private_key(key_type)
    return Enrollment(key, build_csr(key, SUBJECT, SANS), SUBJECT, list(SANS))


def verify(issued: Issued, enrollment: Enrollment) -> IssuedChain:
    return check_issued(
        certificate_pem=issued.certificate_pem,
        chain_pem=issued.chain_pem,
        csr_pem=enrollment.csr_pem,
        subject=enrollment.subject,
        dns_sans=enrollment.dns_sans,
        min_remaining=timedelta(days=30),
    )


@pytest.fixture(scope="session")
def make_enrollment() -> Callable[..., Enrollment]:
    return enroll


@pytest.fixture(scope="session")
def verify_issued() -> Callable[[Issued, Enrollment], IssuedChain]:
    return verify


@pytest.fixture(scope="session")
def sealer() -> Sealer:
    return Sealer([Sealer.generate_key()])


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory, sealer: Sealer) -> LocalCa:
    return LocalCa(Path(tmp_path_factory.mktemp("ca-one")), sealer, intermediates=1)


@pytest.fixture(scope="session")
def local_ca_two(tmp_path_factory: pytest.TempPathFactory, sealer: Sealer) -> LocalCa:
    return LocalCa(Path(tmp_path_factory.mktemp("ca-two")), sealer, intermediates=2)


@pytest.fixture(scope="session")
def enrollment() -> Enrollment:
    return enroll()


@pytest.fixture(scope="session")
def issued(local_ca: LocalCa, enrollment: Enrollment) -> Issued:
    result = local_ca.submit(enrollment.csr_pem, request_key="session-job")
    assert isinstance(result, Issued)
    return result


@pytest.fixture(scope="session")
def issued_chain(issued: Issued, enrollment: Enrollment) -> IssuedChain:
    return verify(issued, enrollment)
