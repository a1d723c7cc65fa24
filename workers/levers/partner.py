"""The second pause: a job waits for the third party to install our client certificate.

``enable`` parks a job in ``waiting_for_third_party`` when the partner refuses the new
certificate (the message untouched). Three ways lead on, all through
:func:`resume_third_party`: the request workflow or an operator says it is installed
(``POST /v1/jobs/{id}/partner-installed``), or the poller's re-probe finds that the
partner now accepts it (:func:`probe_third_party`, with the keystore sealed in the store:
no call to the instance while the job waits). Resuming sends ``enable`` again, which
proves the keystore as attached on the instance before it switches anything.
"""

from __future__ import annotations

from typing import Any

from messages import JobState, ProfileCreated, Stage
from workers.app import App
from workers.errors import PermanentError, StateConflict, VerificationFailed
from workers.levers.reasons import check_reason
from workers.machinery.context import StageContext
from workers.stages.prove import partner_refused, prove_stored
from workers.store import JobRecord

__all__ = ["probe_third_party", "resume_third_party", "wait_detail"]

_WAIT = "waiting_for_third_party"


def wait_detail(app: App, job: JobRecord) -> dict[str, Any]:
    """The event that started the job's current wait (its endpoint, answer, deadline)."""
    for event in reversed(app.store.history(job.id)):
        if event.kind == _WAIT:
            return dict(event.detail)
    return {}


def probe_third_party(app: App, job: JobRecord) -> VerificationFailed | None:
    """Handshake once with the partner's endpoint: None if it accepts our certificate now,
    its refusal if it still does not. Other failures are raised (the next round tries
    again)."""
    endpoint = str(wait_detail(app, job).get("endpoint", ""))
    if not endpoint:
        raise PermanentError(f"job {job.id} waits for the third party but names no endpoint")
    ctx = StageContext(app.deps, job, Stage.ENABLE)
    with ctx.active():
        try:
            prove_stored(ctx, endpoint)
        except VerificationFailed as exc:
            if partner_refused(exc):
                return exc
            raise
    return None


def resume_third_party(
    app: App, job: str | JobRecord, *, source: str, actor: str, reason: str
) -> JobRecord:
    """Move a job waiting for the third party back to ``enable`` (which proves, then
    switches); of two concurrent resumes exactly one wins (``StateConflict``)."""
    reason = check_reason(reason, what="saying the third party installed it")
    store = app.store
    record = store.get_job(job) if isinstance(job, str) else job
    if record.state is not JobState.WAITING_FOR_THIRD_PARTY:
        raise StateConflict(
            f"job {record.id} is {record.state.value}, not waiting for the third party",
            hint="only a job in state waiting_for_third_party can be resumed this way;"
            " 'twoway status' shows what it waits for",
        )
    created = store.progress.get_output(record.id, Stage.CREATE_PROFILE)
    if created is None:
        raise PermanentError(
            f"job {record.id} has no protocol profile on file", hint="replay 'create-profile'"
        )
    resumed = store.transition(
        record.id,
        kind="third_party_resumed",
        expect={JobState.WAITING_FOR_THIRD_PARTY},
        expect_stage={Stage.ENABLE},
        state=JobState.RUNNING,
        detail={"source": source, "actor": actor, "reason": reason},
    )
    app.runtime.send(Stage.ENABLE, ProfileCreated.model_validate_json(created.message))
    return resumed
