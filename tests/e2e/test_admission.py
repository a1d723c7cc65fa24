"""Bad job requests are refused before anything is created, naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ops.dev.stack import RunningStack, Stack, StackOptions
from workers.errors import RequestInvalid


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


def without(job: dict[str, Any], section: str, key: str) -> dict[str, Any]:
    return {**job, section: {k: v for k, v in job[section].items() if k != key}}


CASES = {
    "missing CN": (lambda j: without(j, "subject", "cn"), "subject.cn"),
    "key size not offered": (lambda j: {**j, "key": {"type": "rsa1024"}}, "key.type"),
    "protocol https": (
        lambda j: {**j, "protocol_profile": {"name": "https", "port": 443}},
        "protocol_profile.name",
    ),
    "protocol with capitals": (
        lambda j: {**j, "protocol_profile": {"name": "MAuth", "port": 443}},
        "protocol_profile.name",
    ),
    "malformed server certificate": (
        lambda j: {**j, "server_certificate": {"pem": "-----BEGIN CERTIFICATE-----\nAAAA\n"}},
        "server_certificate",
    ),
    "unknown instance profile": (lambda j: {**j, "instance": "production"}, "instance"),
    "unknown target message": (
        lambda j: {**j, "target": {"kind": "rest", "name": "No Such API"}},
        "target.name",
    ),
    "unknown CA profile": (lambda j: {**j, "ca": {"profile": "corp"}}, "ca.profile"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_request_is_refused_before_anything_is_created(stack: RunningStack, case: str) -> None:
    change, field = CASES[case]
    before = stack.sandbox.dump()
    with pytest.raises(RequestInvalid) as refused:
        stack.app.submit(change(stack.example_job()))
    assert field in refused.value.message, refused.value.message
    assert stack.app.store.list_jobs() == []
    assert stack.sandbox.dump() == before


def test_the_same_job_again_is_refused_before_the_ca_signs(stack: RunningStack) -> None:
    """Submitted again, a job whose keystore record and protocol profile exist would fail
    at upload-keystore after the CA signed a new certificate: admission refuses it first,
    with the reasons plan gives; the same Idempotency-Key still returns the first job."""
    from messages import JobState
    from tests.e2e.conftest import wait_all
    from workers.readiness.plan import plan_job

    request = stack.example_job()
    first, _ = stack.app.submit(request, idempotency_key="the-first")
    assert wait_all(stack, [first.id], timeout=60)[first.id] is JobState.SUCCEEDED
    jobs, before = len(stack.app.store.list_jobs()), stack.sandbox.dump()
    with pytest.raises(RequestInvalid) as refused:
        stack.app.submit(request)
    assert "keystore.record_name" in refused.value.message, refused.value.message
    assert len(stack.app.store.list_jobs()) == jobs  # nothing created: no key, no CSR, no CA
    assert stack.sandbox.dump() == before
    plan = plan_job(
        request,
        stack.config,
        stack.app.deps.instances,
        state_dir=stack.state_dir,
        environ=stack.environ,
    )
    assert refused.value.message in [r.message for r in plan.refusals]  # one rule, both
    again, created = stack.app.submit(request, idempotency_key="the-first")
    assert (again.id, created) == (first.id, False)
