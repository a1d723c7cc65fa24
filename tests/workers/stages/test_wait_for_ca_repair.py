"""A job holding its certificate without the chain (stored by a run killed between the
two, before they were kept together) gets the chain from the CA again, instead of
handing on a certificate that import-chain cannot use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from messages import CertificateIssued, CsrCreated, JobState, Stage
from ops.cli.jobview import follow
from ops.dev.stack import RunningStack, Stack, StackOptions
from workers.machinery.context import StageContext
from workers.stages.wait_for_ca import wait_for_ca


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


def test_a_certificate_without_its_chain_gets_the_chain_again(stack: RunningStack) -> None:
    store = stack.app.store
    job, _ = stack.app.submit(stack.example_job())
    assert follow(store, job.id, lambda _: None, timeout=120).state is JobState.SUCCEEDED
    certificate = store.artifacts.get(job.id, "certificate")
    chain = store.artifacts.get(job.id, "issued_chain")
    assert certificate and chain
    store.artifacts.delete(job.id, ["issued_chain"])

    ctx = StageContext(stack.app.deps, store.get_job(job.id), Stage.WAIT_FOR_CA)
    result = wait_for_ca(ctx.output(Stage.CSR, CsrCreated), ctx)

    assert isinstance(result, CertificateIssued)
    assert store.artifacts.get(job.id, "issued_chain") == chain
    assert store.artifacts.get(job.id, "certificate") == certificate  # the same leaf
