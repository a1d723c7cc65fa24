"""The runtime around stage cores, on dramatiq's stub broker with a real store.

Fake cores stand in for the stages: the runtime's own rules are under test here —
skipping stale deliveries, re-sending recorded outputs, failing permanent errors at the
stage, retrying transient ones and failing the job when retries run out, pausing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import messages
from messages import JobAccepted, JobState, Stage
from tests.factories import good
from tests.workers.harness import Harness, fake_output
from workers.config import InstanceProfile
from workers.errors import PermanentError, TransientError
from workers.machinery.context import StageContext
from workers.machinery.core import Paused


def test_a_job_runs_the_nine_stages_once_each(h: Harness) -> None:
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    assert h.runs == Counter(dict.fromkeys(Stage, 1))
    kinds = h.kinds(job_id)
    assert kinds.count("stage_completed") == 9 and kinds[-1] == "job_succeeded"


def test_a_redelivered_early_message_is_skipped_after_the_job_moved_on(h: Harness) -> None:
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    h.runtime.send(Stage.CSR, fake_output(messages.KeyGenerated, job_id))
    h.broker.join(h.runtime.routes[Stage.CSR].queue)
    h.worker.join()
    assert h.runs[Stage.CSR] == 1


def test_a_recorded_output_is_resent_not_rerun(h: Harness) -> None:
    """The worker died after recording the stage's result and before sending it on."""
    h.behaviour[Stage.ENABLE] = lambda ctx: Paused("held", "test hold")
    job_id = h.start_job()
    h.wait(job_id, JobState.WAITING_FOR_CA)
    # Put the job back as if enable had completed and recorded, but never sent.
    output = fake_output(messages.MutualAuthEnabled, job_id)
    h.store.transition(
        job_id,
        kind="stage_completed",
        state=JobState.RUNNING,
        stage=Stage.ENABLE,
        output=(Stage.ENABLE, output.model_dump_json()),
    )
    h.runtime.send(Stage.ENABLE, fake_output(messages.ProfileCreated, job_id))
    h.wait(job_id, JobState.SUCCEEDED)
    assert h.runs[Stage.ENABLE] == 1 and h.runs[Stage.VERIFY] == 1


def test_a_duplicate_of_a_forwarded_stage_does_nothing(h: Harness) -> None:
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    h.store.transition(job_id, kind="reopened", state=JobState.RUNNING, stage=Stage.VERIFY)
    h.runtime.send(Stage.VERIFY, fake_output(messages.MutualAuthEnabled, job_id))
    h.broker.join(h.runtime.routes[Stage.VERIFY].queue)
    h.worker.join()
    assert h.runs[Stage.VERIFY] == 1
    assert h.kinds(job_id).count("job_succeeded") == 1


def test_concurrent_duplicates_run_a_stage_once(h: Harness) -> None:
    """Both copies arrive together; the second waits for the lease, then finds it done."""
    started = threading.Event()
    release = threading.Event()

    def slow(ctx: StageContext) -> None:
        started.set()
        release.wait(5)

    h.behaviour[Stage.UPLOAD_KEYSTORE] = slow
    job_id = h.start_job()
    assert started.wait(10)
    h.runtime.send(Stage.UPLOAD_KEYSTORE, fake_output(messages.ChainImported, job_id))
    time.sleep(0.3)  # let the duplicate find the lease held
    release.set()
    h.wait(job_id, JobState.SUCCEEDED)
    time.sleep(1.0)  # the deferred duplicate comes back and is skipped
    h.broker.join(h.runtime.routes[Stage.UPLOAD_KEYSTORE].queue)
    h.worker.join()
    assert h.runs[Stage.UPLOAD_KEYSTORE] == 1 and h.runs[Stage.VERIFY] == 1


def test_a_permanent_error_fails_the_job_at_its_stage_without_retrying(h: Harness) -> None:
    def refuse(ctx: StageContext) -> None:
        raise PermanentError("the instance refused", hint="give the user the admin role")

    h.behaviour[Stage.CREATE_PROFILE] = refuse
    job_id = h.start_job()
    h.wait(job_id, JobState.FAILED)
    job = h.store.get_job(job_id)
    assert job.stage is Stage.CREATE_PROFILE and h.runs[Stage.CREATE_PROFILE] == 1
    assert job.error and job.error["message"] == "the instance refused"
    assert job.error["hint"] == "give the user the admin role"
    assert h.runs[Stage.ENABLE] == 0


def test_transient_errors_are_retried_then_fail_the_job_into_dead_letters(h: Harness) -> None:
    h.runtime.actors[Stage.CSR].options.update(max_retries=2, min_backoff=10, max_backoff=20)
    h.behaviour[Stage.CSR] = lambda ctx: (_ for _ in ()).throw(TransientError("flaky CA"))
    job_id = h.start_job()
    h.wait(job_id, JobState.FAILED)
    assert h.runs[Stage.CSR] == 3
    assert h.kinds(job_id).count("stage_retry") == 2
    job = h.store.get_job(job_id)
    assert job.error and "failed 3 times" in str(job.error["message"])
    assert len(h.broker.dead_letters_by_queue[h.runtime.routes[Stage.CSR].queue]) == 1


def test_a_transient_error_that_clears_lets_the_job_succeed(h: Harness) -> None:
    h.runtime.actors[Stage.UPLOAD_KEYSTORE].options.update(min_backoff=10, max_backoff=20)

    def flaky(ctx: StageContext) -> None:
        if h.runs[Stage.UPLOAD_KEYSTORE] < 3:
            raise TransientError("503 from the instance")

    h.behaviour[Stage.UPLOAD_KEYSTORE] = flaky
    job_id = h.start_job()
    h.wait(job_id, JobState.SUCCEEDED)
    assert h.runs[Stage.UPLOAD_KEYSTORE] == 3
    assert h.store.get_job(job_id).attempts["upload-keystore"] == 3


def test_a_pause_acks_and_sends_nothing_further(h: Harness) -> None:
    h.behaviour[Stage.WAIT_FOR_CA] = lambda ctx: Paused("req-7", "waiting for CA manual")
    job_id = h.start_job()
    h.wait(job_id, JobState.WAITING_FOR_CA)
    job = h.store.get_job(job_id)
    assert job.ca_request_id == "req-7" and h.runs[Stage.IMPORT_CHAIN] == 0
    assert all(not q for q in h.broker.queues.values() if hasattr(q, "qsize") and q.qsize())


def test_messages_for_a_cancelled_job_are_skipped(h: Harness) -> None:
    job, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    h.store.transition(job.id, kind="job_cancelled", state=JobState.CANCELLED)
    h.runtime.send(Stage.GENERATE, JobAccepted(job_id=job.id))
    h.broker.join(h.runtime.routes[Stage.GENERATE].queue)
    h.worker.join()
    assert h.runs[Stage.GENERATE] == 0
    assert h.kinds(job.id) == ["job_accepted", "job_cancelled"]


def test_a_malformed_message_is_dropped_without_touching_jobs(h: Harness) -> None:
    h.runtime.actors[Stage.GENERATE].send({"job_id": "not-an-id", "key": "x"})
    h.broker.join(h.runtime.routes[Stage.GENERATE].queue)
    h.worker.join()
    assert h.runs[Stage.GENERATE] == 0


def test_a_missing_credential_variable_fails_the_stage_at_once_naming_it(h: Harness) -> None:
    profile = InstanceProfile(
        url="https://acme.service-now.com", username_env="ACME_USER", password_env="ACME_PASS"
    )
    h.behaviour[Stage.UPLOAD_KEYSTORE] = lambda ctx: profile.credentials({"ACME_USER": "bot"})
    job_id = h.start_job()
    h.wait(job_id, JobState.FAILED)
    job = h.store.get_job(job_id)
    assert job.stage is Stage.UPLOAD_KEYSTORE and h.runs[Stage.UPLOAD_KEYSTORE] == 1
    assert job.error and job.error["message"] == "environment variable ACME_PASS is not set"
    assert "stage_retry" not in h.kinds(job_id)
