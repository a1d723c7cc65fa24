"""A job may fetch the third party's certificate, against a SHA-256 pin, from allowed hosts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from messages import JobState
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.e2e.conftest import Partner, add_partners, job_for, wait_all
from workers.errors import RequestInvalid


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


def pin_of(partner: Partner) -> str:
    der = x509.load_pem_x509_certificate(partner.server.server_certificate_pem).public_bytes(
        Encoding.DER
    )
    return hashlib.sha256(der).hexdigest()


def fetching(stack: RunningStack, partner: Partner, **fetch: Any) -> dict[str, Any]:
    job = job_for(stack, partner)
    job["server_certificate"] = {
        "fetch": {"host": "localhost", "port": partner.server.port, **fetch}
    }
    return job


def test_a_pinned_fetch_registers_the_endpoints_certificate(stack: RunningStack) -> None:
    [partner] = add_partners(stack, 1)
    pin = ":".join(pin_of(partner).upper()[i : i + 2] for i in range(0, 64, 2))  # as browsers show
    job, _ = stack.app.submit(fetching(stack, partner, sha256=pin))
    assert wait_all(stack, [job.id])[job.id] is JobState.SUCCEEDED
    fetched = stack.app.store.artifacts.get(job.id, "server_certificate")
    assert fetched is not None and hashlib.sha256(fetched).hexdigest() == pin_of(partner)
    pem = partner.server.server_certificate_pem.decode().strip()
    trusts = [c for c in stack.sandbox.dump()["sys_certificate"] if c["type"] == "trust_store"]
    assert [c["pem_certificate"].strip() for c in trusts].count(pem) == 1


def test_a_wrong_pin_fails_the_job_before_the_instance_is_touched(stack: RunningStack) -> None:
    [partner] = add_partners(stack, 1, start=100)
    before = stack.sandbox.dump()["sys_certificate"]
    job, _ = stack.app.submit(fetching(stack, partner, sha256="0" * 64))
    assert wait_all(stack, [job.id])[job.id] is JobState.FAILED
    failed = stack.app.store.get_job(job.id)
    assert failed.stage is not None and failed.stage.value == "import-chain"
    assert failed.error and pin_of(partner) in str(failed.error["message"])
    assert "0" * 64 in str(failed.error["message"])
    assert stack.sandbox.dump()["sys_certificate"] == before


def test_a_host_the_instance_profile_does_not_allow_is_refused(stack: RunningStack) -> None:
    [partner] = add_partners(stack, 1, start=200)
    job = fetching(stack, partner, sha256=pin_of(partner))
    job["server_certificate"]["fetch"]["host"] = "partner.example.com"
    count = len(stack.app.store.list_jobs(limit=1000))
    with pytest.raises(RequestInvalid, match=r"server_certificate\.fetch: partner"):
        stack.app.submit(job)
    assert len(stack.app.store.list_jobs(limit=1000)) == count
