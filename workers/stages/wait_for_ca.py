"""Runbook step 3: have the CA sign. Synchronous CAs answer now; others pause the job.

A pause is an ack: the CA's request id is stored with the job, no message waits in the
broker, and the CA's callback, an operator, or the poller resumes the job later.
"""

from __future__ import annotations

from messages import CertificateIssued, CsrCreated, Stage
from workers.ca import Issued
from workers.machinery.context import StageContext, sha256_hex
from workers.machinery.core import Paused
from workers.store.artifacts import Artifact

__all__ = ["CA_REQUEST_KEY", "wait_for_ca"]

# The CA's request key: the job id, until a forced replay asks for a new certificate under
# a new key (a CA that dedupes by request key would otherwise refuse the new CSR).
CA_REQUEST_KEY = "ca_request_key"


def wait_for_ca(msg: CsrCreated, ctx: StageContext) -> CertificateIssued | Paused:
    certificate = ctx.artifact(Artifact.CERTIFICATE)
    # Already issued (a redelivery, or a resume raced us): with its chain, or asked for
    # again (a job stored before certificate and chain were kept together could hold the
    # one without the other; the CA answers the same request key with the same leaf).
    if certificate is not None and ctx.artifact(Artifact.ISSUED_CHAIN) is not None:
        return CertificateIssued(job_id=msg.job_id, certificate_sha256=sha256_hex(certificate))
    csr_pem = ctx.require(Artifact.CSR, made_by=Stage.CSR)
    ca = ctx.ca()
    if ctx.job.ca_request_id:
        result = ca.poll(ctx.job.ca_request_id)
    else:
        request_key = ctx.artifact(CA_REQUEST_KEY) or msg.job_id.encode()
        result = ca.submit(csr_pem, request_key=request_key.decode())
    if not isinstance(result, Issued):
        return Paused(request_id=result.request_id, reason=f"waiting for CA {ca.name}")
    # Both at once: a run killed between two writes would leave a certificate without its
    # chain, and the next run would take the certificate as issued and hand on no chain.
    kept = ctx.keep_all(
        {Artifact.CERTIFICATE: result.certificate_pem, Artifact.ISSUED_CHAIN: result.chain_pem}
    )
    certificate = kept[Artifact.CERTIFICATE]
    ctx.note("certificate_issued", ca=ca.name, request_id=result.request_id)
    return CertificateIssued(job_id=msg.job_id, certificate_sha256=sha256_hex(certificate))
