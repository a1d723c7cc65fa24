"""``GET /metrics`` on a running stack: the numbers move when a job runs."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from messages import JobState
from ops.dev.stack import RunningStack
from tests.ops.gateway.conftest import wait_for


def scrape(api: httpx.Client, headers: dict[str, str]) -> dict[tuple[str, tuple[str, ...]], float]:
    """Every sample as {(name, sorted label items): value}."""
    answer = api.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, tuple[str, ...]], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, items), v in samples.items() if n == name and wanted <= set(items))


def test_a_job_moves_the_numbers(
    stack: RunningStack, api: httpx.Client, reader: dict[str, str]
) -> None:
    before = scrape(api, reader)
    job, _ = stack.app.submit(stack.example_job())
    wait_for(stack, job.id, JobState.SUCCEEDED)
    after = scrape(api, reader)

    succeeded = "twoway_jobs"
    assert (
        total(after, succeeded, state="succeeded")
        == total(before, succeeded, state="succeeded") + 1
    )
    assert total(after, "twoway_jobs", state="failed") >= 0  # every state is present
    for stage in ("generate", "upload-keystore", "verify"):
        name = "twoway_stage_duration_seconds_count"
        grew = total(after, name, stage=stage, outcome="completed") - total(
            before, name, stage=stage, outcome="completed"
        )
        assert grew == 1, stage
    calls = "twoway_servicenow_calls_total"
    assert total(after, calls) > total(before, calls)
    assert total(after, calls, method="POST", status="201") > total(before, calls, status="201")

    # Certificates by instance and days-left bucket (the local CA's 365 days: "more"),
    # and the instance's soonest notAfter; no series per certificate unless asked for.
    held = "twoway_certificates"
    assert total(after, held, instance="sandbox", days_left="more") == (
        total(before, held, instance="sandbox", days_left="more") + 1
    )
    soonest = total(after, "twoway_certificate_soonest_not_after_timestamp_seconds")
    assert 0 < soonest - time.time() < 366 * 86400
    assert not any(n == "twoway_certificate_not_after_timestamp_seconds" for n, _ in after)
    assert ("twoway_ca_wait_longest_open_seconds", ()) in after
    waits = "twoway_store_write_wait_seconds_count"  # the job's writes, each observed
    assert total(after, waits) > total(before, waits)
    # the instance's call limit, its slots in flight now (none: the job is done), and the
    # calls that waited for a slot (the stack runs its stage workers in this process)
    assert after[("twoway_instance_max_concurrent_calls", (("instance", "sandbox"),))] == 4
    assert after[("twoway_instance_calls_in_flight", (("instance", "sandbox"),))] == 0
    slot_waits = "twoway_instance_slot_wait_seconds_count"
    assert total(after, slot_waits, instance="sandbox") > total(before, slot_waits)


def test_metrics_need_a_token(api: httpx.Client) -> None:
    assert api.get("/metrics").status_code == 401
