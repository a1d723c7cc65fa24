"""The sweeper re-sends what a lost send stranded, and only that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dramatiq.brokers.rabbitmq import RabbitmqBroker

import messages
from messages import JobState, Stage
from tests.factories import good
from tests.workers.harness import Harness, fake_output
from workers.levers.sweeper import Sweeper
from workers.machinery.nodes import broker_urls
from workers.machinery.runtime import DEFERRED, Runtime

LATER = datetime.now(UTC) + timedelta(hours=1)


def sweeper(h: Harness) -> Sweeper:
    return Sweeper(h.runtime, quiet_for=timedelta(seconds=30))


def test_a_job_accepted_but_never_sent_is_started(h: Harness) -> None:
    job, _ = h.store.create_job(messages.JobRequest.model_validate(good()))  # no message sent
    report = sweeper(h).sweep(now=LATER)
    assert report.resent == {job.id: "generate"}
    h.wait(job.id, JobState.SUCCEEDED)
    assert "message_resent" in h.kinds(job.id)


def test_a_recorded_but_unforwarded_output_is_sent_on(h: Harness) -> None:
    job, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    output = fake_output(messages.CsrCreated, job.id)
    h.store.transition(
        job.id,
        kind="stage_completed",
        state=JobState.RUNNING,
        stage=Stage.CSR,
        output=(Stage.CSR, output.model_dump_json()),
    )
    assert sweeper(h).sweep(now=LATER).resent == {job.id: "wait-for-ca"}
    h.wait(job.id, JobState.SUCCEEDED)
    assert h.runs[Stage.CSR] == 0 and h.runs[Stage.WAIT_FOR_CA] == 1


def test_a_stage_whose_message_was_lost_gets_its_input_again(h: Harness) -> None:
    job, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    before = fake_output(messages.KeystoreUploaded, job.id)
    h.store.transition(
        job.id,
        kind="stage_completed",
        state=JobState.RUNNING,
        stage=Stage.UPLOAD_KEYSTORE,
        output=(Stage.UPLOAD_KEYSTORE, before.model_dump_json()),
    )
    h.store.progress.mark_forwarded(job.id, Stage.UPLOAD_KEYSTORE)
    h.store.transition(job.id, kind="stage_started", stage=Stage.REGISTER_TRUST)
    assert sweeper(h).sweep(now=LATER).resent == {job.id: "register-trust"}
    h.wait(job.id, JobState.SUCCEEDED)
    assert h.runs[Stage.REGISTER_TRUST] == 1 and h.runs[Stage.UPLOAD_KEYSTORE] == 0


def test_recent_leased_and_finished_jobs_are_left_alone(h: Harness) -> None:
    recent, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    assert sweeper(h).sweep().resent == {}  # not quiet long enough
    leased, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    h.store.progress.acquire(leased.id, Stage.GENERATE, "alive", timedelta(hours=2))
    done, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    h.store.transition(done.id, kind="job_cancelled", state=JobState.CANCELLED)
    report = sweeper(h).sweep(now=LATER)
    assert leased.id not in report.resent and done.id not in report.resent
    assert recent.id in report.resent


def test_only_one_sweeper_sweeps_at_a_time(h: Harness) -> None:
    job, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    h.store.progress.acquire("__sweeper__", "sweep", "another-worker", timedelta(minutes=1))
    assert sweeper(h).sweep(now=LATER).resent == {}
    h.store.progress.release("__sweeper__", "another-worker")
    assert sweeper(h).sweep(now=LATER).resent == {job.id: "generate"}


def test_a_send_the_broker_does_not_take_is_deferred_then_sent_by_the_next_sweep(
    h: Harness,
) -> None:
    """A submission meeting a broker that is away: the job is kept with its send owed,
    and the next sweep sends it without waiting for the job to look quiet."""
    job, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    away = RabbitmqBroker(url=broker_urls("amqp://guest:guest@127.0.0.1:1"), confirm_delivery=True)
    runtime_without_broker = Runtime(h.deps, away, h.runtime.cores)
    accepted = messages.JobAccepted(job_id=job.id)
    assert not runtime_without_broker.send_or_defer(
        job.id, Stage.GENERATE, accepted, patience_s=0.5
    )
    [deferred] = [e for e in h.store.history(job.id) if e.kind == DEFERRED]
    assert deferred.detail["to_stage"] == "generate" and "amqp://" not in str(deferred.detail)
    quiet_for_an_hour = Sweeper(h.runtime, quiet_for=timedelta(hours=1))
    assert quiet_for_an_hour.sweep().resent == {job.id: "generate"}
    h.wait(job.id, JobState.SUCCEEDED)
    assert quiet_for_an_hour.sweep().resent == {}  # sent once: nothing owed any more
