"""Resuming a job that waits for its CA: the one way in, for callbacks, operators and the
poller alike.

The certificate and chain are checked against the job's CSR and request first (public
key, chain to a root, validity and the CA profile's minimum, clientAuth, subject and
DNS names). A rejection is written into the job's history and raised; the job keeps
waiting and nothing else changes. An accepted certificate is stored together with the
compare-and-set that moves the job on, in one transaction: of two concurrent resumes
exactly one wins, the other gets ``StateConflict``. The same transaction records
``wait-for-ca`` as completed (its duration: the time the job waited), so it is recorded
once however often a resume is repeated. Then ``import-chain`` is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from messages import CertificateIssued, JobState, Stage
from workers import pki
from workers.app import App
from workers.errors import CertificateRejected, PermanentError, RequestInvalid, StateConflict
from workers.levers.waiting import wait_began
from workers.machinery.stage_run import completed_detail
from workers.store import JobRecord
from workers.store.artifacts import Artifact
from workers.store.rewind import rewind

__all__ = ["resume_with_certificate"]


def resume_with_certificate(
    app: App,
    job: str | JobRecord,
    certificate_pem: bytes,
    chain_pem: bytes,
    *,
    source: str,
    actor: str,
    claim: Callable[[Connection], None] | None = None,
) -> JobRecord:
    """Check, store and go on at ``import-chain``; ``source`` and ``actor`` go into history.

    ``job`` is the job's id, or its record as the caller just read it (one read fewer;
    the transition below compares and sets, so a record gone stale cannot resume twice).

    ``claim`` runs inside the transaction that moves the job, before the certificate is
    written (a callback's signature is recorded as used there): if it raises, the job
    stays as it was.
    """
    store = app.store
    if isinstance(job, str):
        job = store.get_job(job)
    if job.state is not JobState.WAITING_FOR_CA:
        raise StateConflict(
            f"job {job.id} is {job.state.value}, not waiting for its CA",
            hint="only a job in state waiting_for_ca can be resumed; 'twoway status' shows it",
        )
    chain = _checked(app, job, certificate_pem, chain_pem, source=source, actor=actor)
    certificate = chain.leaf_pem
    issued = CertificateIssued(
        job_id=job.id, certificate_sha256=hashlib.sha256(certificate).hexdigest()
    )
    waited_ms = round((datetime.now(UTC) - wait_began(job)).total_seconds() * 1000, 1)
    resumed = store.transition(
        job.id,
        kind="ca_resumed",
        expect={JobState.WAITING_FOR_CA},
        expect_stage={Stage.WAIT_FOR_CA},
        state=JobState.RUNNING,
        stage=Stage.WAIT_FOR_CA,
        output=(Stage.WAIT_FOR_CA, issued.model_dump_json()),
        detail={"source": source, "actor": actor, **_facts(job, chain, certificate)},
        within=_then(claim, rewind(job.id, outputs=(), write=_artifacts(certificate, chain))),
        notes=[("stage_completed", completed_detail(issued, waited_ms))],
    )
    following = app.runtime.routes[Stage.WAIT_FOR_CA].next_stage
    assert following is not None, "wait-for-ca is never the last stage"
    app.runtime.send(following, issued)  # import-chain's start marks it forwarded
    return resumed


def _then(
    first: Callable[[Connection], None] | None, second: Callable[[Connection], None]
) -> Callable[[Connection], None]:
    if first is None:
        return second

    def both(conn: Connection) -> None:
        first(conn)
        second(conn)

    return both


def _facts(job: JobRecord, chain: pki.IssuedChain, certificate: bytes) -> dict[str, Any]:
    """What the history keeps of a resume: the request and the certificate's identity."""
    return {
        "request_id": job.ca_request_id,
        "certificate_sha256": hashlib.sha256(certificate).hexdigest(),
        "serial": format(chain.leaf.serial_number, "x"),
        "not_after": chain.leaf.not_valid_after_utc.isoformat(),
    }


def _artifacts(certificate: bytes, chain: pki.IssuedChain) -> dict[str, bytes]:
    """What the later stages read: the leaf, and the verified CA chain (root included)."""
    return {Artifact.CERTIFICATE: certificate, Artifact.ISSUED_CHAIN: chain.ca_chain_pem}


def _checked(
    app: App, job: JobRecord, certificate_pem: bytes, chain_pem: bytes, *, source: str, actor: str
) -> pki.IssuedChain:
    profile = app.config.ca_profile(job.request.ca.profile)
    csr = app.store.artifacts.get(job.id, Artifact.CSR)
    if csr is None:
        raise PermanentError(f"job {job.id} has no CSR", hint="replay stage 'csr'")
    try:
        return pki.check_issued(
            certificate_pem=certificate_pem,
            chain_pem=chain_pem,
            csr_pem=csr,
            subject=job.request.subject,
            dns_sans=job.request.dns_sans,
            min_remaining=timedelta(days=profile.min_remaining_days),
            trusted_roots=profile.trusted_roots(),
            subject_keep=profile.subject_parts(),
        )
    except (CertificateRejected, RequestInvalid) as exc:
        app.store.note(
            job.id, "certificate_rejected", {"source": source, "actor": actor, **exc.as_dict()}
        )
        raise
