"""Jobs that register the same server certificate on one instance at the same moment end
with one Trust Store Cert record, and every job hands on that record's sys_id.

Before register-trust took a store lease per (certificate, instance), jobs that both
found no record both created one; the next lookup deleted the newer as a duplicate,
though its job had already passed its sys_id on to verify, which then failed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from messages import JobRequest, KeystoreUploaded, KeyType, Stage, TrustRegistered
from ops.dev.stack import RunningStack, Stack, StackOptions
from workers.machinery.context import StageContext
from workers.stages.register_trust import register_trust

JOBS = 8
ROUNDS = 3


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


def _register_at_once(stack: RunningStack, round_no: int) -> list[TrustRegistered]:
    app, results, errors = stack.app, [], []
    start = threading.Barrier(JOBS)

    def one(index: int) -> None:
        raw = stack.example_job(KeyType.EC256)
        raw["protocol_profile"] = {"name": f"shared{round_no}x{index}", "port": 443}
        job, _ = app.store.create_job(JobRequest.model_validate(raw))
        ctx = StageContext(app.deps, job, Stage.REGISTER_TRUST)
        uploaded = KeystoreUploaded(
            job_id=job.id,
            keystore_sys_id="a" * 32,
            attachment_sys_id="b" * 32,
            keystore_sha256="c" * 64,
        )
        start.wait()
        try:
            results.append(register_trust(uploaded, ctx))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(JOBS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def _ours(stack: RunningStack) -> list[dict[str, str]]:
    rows = stack.sandbox.store.select("sys_certificate")
    return [row for row in rows if row["name"].startswith("twoway trust")]


@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_concurrent_jobs_share_one_trust_record_that_exists(
    stack: RunningStack, round_no: int
) -> None:
    for row in _ours(stack):  # each round starts with the certificate unregistered
        stack.sandbox.store.delete("sys_certificate", row["sys_id"], "admin")
    results = _register_at_once(stack, round_no)
    handed_on = {result.trust_sys_id for result in results}
    trust_records = _ours(stack)
    assert len(results) == JOBS
    assert len(handed_on) == 1
    assert [r["sys_id"] for r in trust_records] == list(handed_on)
