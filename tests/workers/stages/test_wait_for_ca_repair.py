"""A job holding its certificate without the chain (stored by a run killed between the
two, before they were kept together) gets the chain from the CA again, instead of
handing on a certificate that import-chain cannot use."""

from __future__ import annotations

from messages import CertificateIssued, CsrCreated, JobState, Stage
from tests.workers.stages.conftest import Cores
from workers.machinery.context import StageContext
from workers.stages.wait_for_ca import wait_for_ca


def test_a_certificate_without_its_chain_gets_the_chain_again(fresh: Cores) -> None:
    store = fresh.app.store
    job = fresh.start()
    fresh.through(Stage.VERIFY)
    assert store.get_job(job.id).state is JobState.SUCCEEDED
    certificate = store.artifacts.get(job.id, "certificate")
    chain = store.artifacts.get(job.id, "issued_chain")
    assert certificate and chain
    store.artifacts.delete(job.id, ["issued_chain"])

    ctx = StageContext(fresh.app.deps, store.get_job(job.id), Stage.WAIT_FOR_CA)
    result = wait_for_ca(ctx.output(Stage.CSR, CsrCreated), ctx)

    assert isinstance(result, CertificateIssued)
    assert store.artifacts.get(job.id, "issued_chain") == chain
    assert store.artifacts.get(job.id, "certificate") == certificate  # the same leaf
