"""Metrics read from the store (SQLite and PostgreSQL) and observed in a process."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from messages import JobRequest, JobState, Stage
from tests.factories import good
from workers.metrics import Metrics, StoreCollector
from workers.sealing import Sealer
from workers.servicenow import CallRecord
from workers.store import Store


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def waiting_job(store: Store) -> str:
    job, _ = store.create_job(JobRequest.model_validate(good()))
    store.transition(job.id, kind="stage_started", state=JobState.RUNNING, stage=Stage.WAIT_FOR_CA)
    store.transition(job.id, kind="waiting_for_ca", state=JobState.WAITING_FOR_CA)
    return job.id


def test_waits_for_cas_and_jobs_by_state_come_from_the_store(
    store_url: str, sealer: Sealer
) -> None:
    store = Store(store_url, sealer)
    resumed, rejected, _still_waiting = (waiting_job(store) for _ in range(3))
    store.transition(resumed, kind="ca_resumed", state=JobState.RUNNING)
    store.transition(rejected, kind="ca_rejected", state=JobState.FAILED)
    metrics = Metrics()
    metrics.watch(StoreCollector(store))
    got = samples(metrics)
    assert got[("twoway_jobs", (("state", "waiting_for_ca"),))] == 1
    assert got[("twoway_jobs", (("state", "running"),))] == 1
    assert got[("twoway_jobs", (("state", "cancelled"),))] == 0
    for outcome in ("resumed", "rejected"):
        assert got[("twoway_ca_wait_seconds_count", (("outcome", outcome),))] == 1
        bucket = (("le", "60.0"), ("outcome", outcome))
        assert got[("twoway_ca_wait_seconds_bucket", bucket)] == 1  # it took well under 60 s
    assert got[("twoway_ca_wait_seconds_count", (("outcome", "expired"),))] == 0
    assert got[("twoway_ca_wait_longest_open_seconds", ())] > 0
    store.close()


def test_servicenow_calls_are_counted_by_status_and_errors_apart() -> None:
    metrics = Metrics()
    path = "/api/now/table/{table}"
    metrics.observe_call(CallRecord("GET", path, 200, 0.01, 1, "ok"))
    metrics.observe_call(CallRecord("GET", path, 503, 0.01, 1, "retry"))
    metrics.observe_call(CallRecord("POST", path, None, 0.01, 1, "error"))
    got = samples(metrics)
    calls = "twoway_servicenow_calls_total"
    assert got[(calls, (("method", "GET"), ("path", path), ("status", "200")))] == 1
    assert got[(calls, (("method", "GET"), ("path", path), ("status", "503")))] == 1
    errors = "twoway_servicenow_errors_total"
    assert (
        got[(errors, (("method", "GET"), ("outcome", "retry"), ("path", path), ("status", "503")))]
        == 1
    )
    assert (
        got[
            (errors, (("method", "POST"), ("outcome", "error"), ("path", path), ("status", "none")))
        ]
        == 1
    )
    assert not [k for k in got if k[0] == errors and ("status", "200") in k[1]]


def test_stage_durations_are_observed_by_outcome() -> None:
    metrics = Metrics()
    metrics.observe_stage(Stage.ENABLE, "retried", 0.2)
    metrics.observe_stage(Stage.ENABLE, "completed", 0.3)
    got = samples(metrics)
    name = "twoway_stage_duration_seconds"
    assert got[(f"{name}_count", (("outcome", "retried"), ("stage", "enable")))] == 1
    assert got[(f"{name}_sum", (("outcome", "completed"), ("stage", "enable")))] == 0.3


def test_every_write_transaction_observes_its_wait_to_begin(store_url: str) -> None:
    store = Store(store_url, Sealer([Sealer.generate_key()]))
    metrics = Metrics()
    store.observe_write_waits(metrics.store_write_wait.observe)
    try:
        job, _ = store.create_job(JobRequest.model_validate(good()))
        store.transition(job.id, kind="stage_started", state=JobState.RUNNING, stage=Stage.GENERATE)
        got = samples(metrics)
        assert got[("twoway_store_write_wait_seconds_count", ())] == 2
        assert got[("twoway_store_write_wait_seconds_bucket", (("le", "+Inf"),))] == 2
    finally:
        store.close()
