"""The operator's levers on a job: replay a stage, or cancel. Who asked and why is recorded.

Replay (after Venafi's Retry/Reset and Temporal's reset, whose reason is required) runs
a stage again and lets the pipeline continue from there:

- allowed on a ``failed`` job, for the stage it failed at or any earlier one; on a
  ``succeeded`` job only for ``verify``, the read-only stage (the third party installed
  our certificate late, say). Anything else would run stages over a finished or moving
  job; such jobs are cancelled, resumed or submitted anew instead;
- the recorded outputs from that stage on are forgotten in the same transaction that
  moves the job ``failed -> running`` at the stage, with a ``replay_requested`` event
  holding the actor, the reason and ``force``; then the stage's input is sent;
- stages before ``import-chain`` reuse what they stored (the key, the CSR, the
  certificate). Replaying one of them on a job that already holds a certificate needs
  ``force``: the key, CSR, certificate and keystore from that stage on are dropped, so
  the stages mint new ones, and the CA is asked under a new request key. The later
  stages then replace the ServiceNow records idempotently (found by name and marker).

Cancel moves any unfinished job to ``cancelled``; a stage still running finds its
compare-and-set lost and drops its result. Cancelling a cancelled job changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import structlog
from sqlalchemy import Connection

from messages import JobAccepted, JobState, Stage, StageMessage
from workers.errors import StateConflict, TransientError
from workers.levers.reasons import check_reason
from workers.logs import redact_text
from workers.machinery.runtime import Runtime
from workers.stages.wait_for_ca import CA_REQUEST_KEY
from workers.store import JobRecord, Store
from workers.store.artifacts import Artifact
from workers.store.rewind import rewind

__all__ = ["CA_REQUEST_KEY", "cancel", "replay"]

_log = structlog.get_logger("twoway.replay")

_UNFINISHED = frozenset(
    {JobState.ACCEPTED, JobState.RUNNING, JobState.WAITING_FOR_CA, JobState.WAITING_FOR_THIRD_PARTY}
)
# What each stage up to the keystore makes; a forced replay drops them from its stage on.
_MADE_BY: dict[Stage, tuple[str, ...]] = {
    Stage.GENERATE: (Artifact.PRIVATE_KEY,),
    Stage.CSR: (Artifact.CSR,),
    Stage.WAIT_FOR_CA: (Artifact.CERTIFICATE, Artifact.ISSUED_CHAIN),
    Stage.IMPORT_CHAIN: (
        Artifact.KEYSTORE,
        Artifact.KEYSTORE_PASSWORD,
        Artifact.KEYSTORE_CERTIFICATE,
        Artifact.CLIENT_CERT_PEM,
        Artifact.CLIENT_CERT_DER,
        Artifact.CA_CHAIN_PEM,
    ),
}
_NOT_FAILED = {
    JobState.WAITING_FOR_CA: "resume it with the signed certificate, or cancel it",
    JobState.WAITING_FOR_THIRD_PARTY: "it resumes by itself once the third party accepts our"
    " certificate; say it is installed (POST /v1/jobs/{id}/partner-installed), or cancel it",
    JobState.CANCELLED: "a cancelled job stays cancelled; submit a new job",
}
_ANEW = {
    Stage.GENERATE: "mint a new key, CSR and certificate",
    Stage.CSR: "make a new CSR and have it signed",
    Stage.WAIT_FOR_CA: "have the CA sign a new certificate",
}


def replay(
    runtime: Runtime, job_id: str, stage: Stage, *, reason: str, actor: str, force: bool = False
) -> JobRecord:
    """Run ``stage`` of a failed job again and continue from there (see the module doc)."""
    reason = check_reason(reason)
    store = runtime.deps.store
    job = store.get_job(job_id)
    _check_replayable(runtime, job, stage)
    message = _input_of(runtime, store, job, stage)
    dropped = _dropped(runtime, store, job, stage, force)
    detail = {
        "actor": actor,
        "reason": reason,
        "force": force,
        "from_state": job.state.value,
        "from_stage": job.stage.value if job.stage else None,
        "dropped": dropped,
    }
    job = store.transition(
        job.id,
        kind="replay_requested",
        expect={job.state},
        expect_stage={job.stage},
        state=JobState.RUNNING,
        stage=stage,
        clear_error=True,
        detail=detail,
        within=_forget(runtime, job.id, stage, dropped),
    )
    _log.info("replay_requested", job_id=job.id, stage=stage.value, actor=actor, force=force)
    _send(runtime, job, stage, message)
    return job


def _check_replayable(runtime: Runtime, job: JobRecord, stage: Stage) -> None:
    routes = runtime.routes
    if job.state is JobState.SUCCEEDED:
        if stage is not Stage.VERIFY:
            raise StateConflict(
                f"job {job.id} succeeded; of a finished job only 'verify' (read-only) is replayed",
                hint="to change what a finished job configured, submit a new job",
            )
        return
    stalled_at = _stalled_at(runtime, job)
    if job.state is not JobState.FAILED and stalled_at is None:
        raise StateConflict(
            f"job {job.id} is {job.state.value}: only a failed or stalled job is replayed",
            hint=_NOT_FAILED.get(job.state, "wait until it has finished"),
        )
    failed_at = stalled_at or job.stage or routes.first.stage
    if routes.index(stage) > routes.index(failed_at):
        raise StateConflict(
            f"job {job.id} failed at '{failed_at.value}'; replaying '{stage.value}' would skip it",
            hint=f"replay '{failed_at.value}' or an earlier stage",
        )


def _stalled_at(runtime: Runtime, job: JobRecord) -> Stage | None:
    """The stage a running job stalled at (the sweeper marked it), else None."""
    if job.state is not JobState.RUNNING:
        return None
    last = runtime.deps.store.history(job.id)[-1]
    if last.kind != "job_stalled":
        return None
    return Stage(str(last.detail.get("stage") or (job.stage or runtime.routes.first.stage)))


def _input_of(runtime: Runtime, store: Store, job: JobRecord, stage: Stage) -> StageMessage:
    """The message the stage consumes: JobAccepted, or the previous stage's recorded output."""
    before = runtime.routes.before(stage)
    if not before:
        return JobAccepted(job_id=job.id)
    previous = runtime.routes[before[-1]]
    recorded = store.progress.get_output(job.id, previous.stage)
    if recorded is None:
        raise StateConflict(
            f"stage '{stage.value}' has no input: '{previous.stage.value}' recorded no result",
            hint=f"replay '{previous.stage.value}' or an earlier stage",
        )
    return previous.produces.model_validate_json(recorded.message)


def _before_keystore(runtime: Runtime, stage: Stage) -> bool:
    return runtime.routes.index(stage) < runtime.routes.index(Stage.IMPORT_CHAIN)


def _dropped(
    runtime: Runtime, store: Store, job: JobRecord, stage: Stage, force: bool
) -> list[str]:
    """The artifacts a (forced) replay of ``stage`` drops; StateConflict if it needs force."""
    if not _before_keystore(runtime, stage):
        return []
    if not force:
        if store.artifacts.get(job.id, Artifact.CERTIFICATE) is not None:
            raise StateConflict(
                f"job {job.id} already holds a certificate; replaying '{stage.value}' would"
                f" {_ANEW[stage]}",
                hint='replay with --force (API: "force": true) to do that; the later stages'
                " then replace the ServiceNow records",
            )
        return []
    stages = runtime.routes.from_(stage)[: runtime.routes.index(Stage.IMPORT_CHAIN) + 1]
    return sorted(name for s in stages for name in _MADE_BY.get(s, ()))


def _forget(
    runtime: Runtime, job_id: str, stage: Stage, dropped: list[str]
) -> Callable[[Connection], None]:
    """The rewind: outputs from ``stage`` on, the dropped artifacts, and with the
    certificate also the CA request, which is asked again under a new request key."""
    renew_ca = Artifact.CERTIFICATE in dropped
    new_key = {CA_REQUEST_KEY: f"{job_id}-{secrets.token_hex(4)}".encode()}
    return rewind(
        job_id,
        outputs=runtime.routes.from_(stage),
        artifacts=dropped,
        forget_ca_request=renew_ca,
        write=new_key if renew_ca else None,
    )


def _send(runtime: Runtime, job: JobRecord, stage: Stage, message: StageMessage) -> None:
    try:
        runtime.send(stage, message)
    except Exception as exc:  # any broker failure: put the job back as it was
        runtime.deps.store.transition(
            job.id,
            kind="replay_not_sent",
            expect={JobState.RUNNING},
            expect_stage={stage},
            state=JobState.FAILED,
            error={
                "error": "ReplayNotSent",
                "message": f"the replay could not be sent: {redact_text(str(exc))[:300]}",
            },
        )
        raise TransientError(
            f"the replay of '{stage.value}' could not be sent to the broker",
            hint="check that RabbitMQ is reachable, then replay again",
        ) from exc


def cancel(store: Store, job_id: str, *, reason: str, actor: str) -> JobRecord:
    """Cancel an unfinished job (idempotent: a cancelled job is returned as it is)."""
    reason = check_reason(reason, what="a cancellation")
    job = store.get_job(job_id)
    if job.state is JobState.CANCELLED:
        return job
    try:
        job = store.transition(
            job.id,
            kind="job_cancelled",
            expect=_UNFINISHED,
            state=JobState.CANCELLED,
            detail={"actor": actor, "reason": reason, "from_state": job.state.value},
            within=lambda conn: store.progress.refuse_if_a_lever_holds(conn, job_id),
        )
    except StateConflict:
        job = store.get_job(job_id)
        if job.state is JobState.CANCELLED:
            return job
        hint = (
            "its certificate is live on the instance: 'twoway rollback' (POST"
            " /v1/jobs/{id}/rollback) undoes it"
            if job.state is JobState.SUCCEEDED
            else "a failed job stays failed; replay or leave it"
        )
        raise StateConflict(
            f"job {job.id} is {job.state.value}: only an unfinished job can be cancelled",
            hint=hint,
        ) from None
    _log.info("job_cancelled", job_id=job.id, actor=actor)
    return job
