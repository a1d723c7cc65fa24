"""Certificates and renewals over the API: the inventory, renewing, and the refusals."""

from __future__ import annotations

import httpx

from messages import JobRequest, JobState
from ops.dev.stack import RunningStack

from .conftest import fresh_job, wait_for


def test_the_inventory_lists_a_succeeded_jobs_certificate(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str], reader: dict[str, str]
) -> None:
    job_id = api.post("/v1/jobs", json=fresh_job(stack), headers=operator).json()["job_id"]
    assert wait_for(stack, job_id, JobState.SUCCEEDED, JobState.FAILED).state is JobState.SUCCEEDED
    answer = api.get("/v1/certificates", headers=reader)
    assert answer.status_code == 200
    [mine] = [c for c in answer.json()["certificates"] if c["job_id"] == job_id]
    assert mine["state"] == "current" and mine["days_left"] > 300
    assert mine["keystore_sys_id"] and mine["protocol_profile"].startswith("mauth")
    assert mine["keystore_format"] == "jks"  # the default keystore.format
    assert api.get("/v1/certificates").status_code == 401


def test_renewing_starts_one_job_and_switches(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str], reader: dict[str, str]
) -> None:
    job_id = api.post("/v1/jobs", json=fresh_job(stack), headers=operator).json()["job_id"]
    assert wait_for(stack, job_id, JobState.SUCCEEDED).state is JobState.SUCCEEDED
    assert api.post(f"/v1/jobs/{job_id}/renew", headers=reader).status_code == 403
    first = api.post(f"/v1/jobs/{job_id}/renew", json={"reason": "yearly"}, headers=operator)
    again = api.post(f"/v1/jobs/{job_id}/renew", json={"reason": "yearly"}, headers=operator)
    assert first.status_code == 202 and first.json()["created"] is True
    assert again.json()["job_id"] == first.json()["job_id"] or again.status_code == 409
    renewal = wait_for(stack, first.json()["job_id"], JobState.SUCCEEDED, JobState.FAILED)
    assert renewal.state is JobState.SUCCEEDED and renewal.renews == job_id
    refused = api.post(f"/v1/jobs/{job_id}/renew", json={"reason": "again"}, headers=operator)
    assert refused.status_code == 409 and renewal.id in refused.json()["hint"]


def test_renewing_an_unknown_or_unfinished_job_is_refused(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    assert api.post(f"/v1/jobs/{'0' * 32}/renew", headers=operator).status_code == 404
    job, _ = stack.app.store.create_job(JobRequest.model_validate(fresh_job(stack)))
    answer = api.post(f"/v1/jobs/{job.id}/renew", headers=operator)
    assert answer.status_code == 409 and "only a succeeded job" in answer.json()["message"]
