"""The scale benchmark's templates: real jobs run through a stack, one of each kind.

A succeeded job that was later renewed (its old keystore record retired and, after the
grace period, deleted by the scheduler), the renewal that replaced it, a job that failed
at a stage, and one waiting for its CA. The copies (``ops.bench.copies``) are made from
these, so every copied row, history, artifact and output is one the pipeline wrote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from messages import TERMINAL_STATES, WAITING_STATES, JobState, KeyType
from ops.dev.stack import RunningStack
from workers.errors import TwowayError
from workers.levers.renewal import renew

__all__ = ["Templates", "seed_templates"]


@dataclass(frozen=True)
class Templates:
    """Job ids of the real jobs the store is filled from."""

    renewed: str  # succeeded, then replaced by ``renewal``
    renewal: str  # succeeded, renews ``renewed``
    failed: str
    waiting: str  # waiting_for_ca (the manual CA)


def _wait(stack: RunningStack, job_id: str, timeout: float = 180) -> JobState:
    deadline = time.monotonic() + timeout
    settled = TERMINAL_STATES | WAITING_STATES
    while time.monotonic() < deadline:
        state = stack.app.store.get_job(job_id).state
        if state in settled:
            return state
        time.sleep(0.2)
    raise TwowayError(f"bench seed job {job_id} did not settle in {timeout:.0f} s")


def _job(stack: RunningStack, tag: str, *, ca: str = "local") -> str:
    name = f"Scale {tag} API"
    stack.sandbox.add_rest_message(name, stack.third_party.url, methods=("get", "post"))
    request = stack.example_job(
        KeyType.EC256,
        target={"kind": "rest", "name": name},
        subject={"cn": f"scale-{tag}-client", "o": "twoway bench", "c": "DE"},
        keystore={"record_name": f"twoway scale {tag}", "alias": "twoway"},
        protocol_profile={"name": f"mauthscale{tag}", "port": stack.third_party.port},
        ca={"profile": ca, "adapter": ca},
    )
    job, _ = stack.app.submit(request)
    return job.id


def _expect(stack: RunningStack, job_id: str, wanted: JobState) -> None:
    state = _wait(stack, job_id)
    if state is not wanted:
        error = stack.app.store.get_job(job_id).error
        raise TwowayError(f"bench seed job {job_id} ended {state.value}, not {wanted}: {error}")


def seed_templates(stack: RunningStack) -> Templates:
    """Run the template jobs through ``stack`` (its workers must be running)."""
    renewed = _job(stack, "a")
    waiting = _job(stack, "w", ca="manual")
    _expect(stack, renewed, JobState.SUCCEEDED)
    _expect(stack, waiting, JobState.WAITING_FOR_CA)
    stack.sandbox.forbid("sys_rest_message", "update")  # 403 at enable: the job fails there
    failed = _job(stack, "x")
    _expect(stack, failed, JobState.FAILED)
    stack.sandbox.allow("sys_rest_message", "update")
    renewal, _ = renew(stack.app, renewed, actor="bench", reason="scale bench template")
    _expect(stack, renewal.id, JobState.SUCCEEDED)
    # The grace period over: the scheduler deletes the retired record (a real deletion).
    later = datetime.now(UTC) + timedelta(days=stack.app.config.renewal.grace_period_days + 1)
    stack.scheduler.run_once(now=later)
    return Templates(renewed=renewed, renewal=renewal.id, failed=failed, waiting=waiting)
