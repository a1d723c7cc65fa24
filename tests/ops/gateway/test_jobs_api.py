"""The job API over real HTTP against a running stack: submit with an Idempotency-Key,
list and page, the client certificate, cancel, and every refusal with its status."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
from cryptography import x509

from messages import JobRequest, JobState
from ops.dev.stack import RunningStack

from .conftest import events, fresh_job, wait_for


def idle_job(stack: RunningStack) -> str:
    """A job in the store that no message drives: it stays accepted, without artifacts."""
    job, _ = stack.app.store.create_job(JobRequest.model_validate(fresh_job(stack)))
    return job.id


# -- submitting -----------------------------------------------------------------------------


def test_a_job_is_accepted_with_202_and_its_location(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    answer = api.post("/v1/jobs", json=fresh_job(stack), headers=operator)
    assert answer.status_code == 202
    body = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{body['job_id']}"
    assert body["created"] is True and body["state"] == "accepted"
    assert wait_for(stack, body["job_id"], JobState.SUCCEEDED, JobState.FAILED).state is (
        JobState.SUCCEEDED
    )


def test_the_same_key_and_body_give_the_same_job_and_another_body_409(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    job = fresh_job(stack)
    headers = {**operator, "Idempotency-Key": "same-key-twice"}
    first = api.post("/v1/jobs", json=job, headers=headers)
    again = api.post("/v1/jobs", json=job, headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["job_id"] == first.json()["job_id"] and again.json()["created"] is False
    other = api.post("/v1/jobs", json={**job, "dns_sans": ["other.example"]}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"] == "IdempotencyConflict"
    assert first.json()["job_id"] in other.json()["message"]


def test_twenty_concurrent_identical_posts_create_one_job(
    stack: RunningStack, operator: dict[str, str]
) -> None:
    job = fresh_job(stack)
    before = sum(stack.app.store.count_jobs().values())
    start = Barrier(20)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.gateway.url, timeout=60) as client:
            start.wait()  # all twenty leave together
            return client.post(
                "/v1/jobs", json=job, headers={**operator, "Idempotency-Key": "twenty-at-once"}
            )

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    assert {a.status_code for a in answers} <= {200, 202}
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert sum(a.json()["created"] for a in answers) == 1
    assert sum(stack.app.store.count_jobs().values()) == before + 1


def test_a_bad_request_names_the_field(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    job = fresh_job(stack)
    job["key"] = {"type": "dsa1024"}
    answer = api.post("/v1/jobs", json=job, headers=operator)
    assert answer.status_code == 422 and "key.type" in answer.json()["message"]
    unknown = api.post("/v1/jobs", json={**fresh_job(stack), "instance": "nope"}, headers=operator)
    assert unknown.status_code == 400 and "instance" in unknown.json()["message"]
    missing = fresh_job(stack)
    missing["target"] = {"kind": "rest", "name": "No Such API"}
    absent = api.post("/v1/jobs", json=missing, headers=operator)
    assert absent.status_code == 400 and "No Such API" in absent.json()["message"]


def test_a_body_over_the_limit_is_413_whether_declared_or_chunked(
    api: httpx.Client, operator: dict[str, str]
) -> None:
    big = b"{" + b" " * 1_100_000 + b"}"
    declared = api.post("/v1/jobs", content=big, headers=operator)
    assert declared.status_code == 413 and declared.json()["error"] == "PayloadTooLarge"
    chunked = api.post("/v1/jobs", content=iter([big[:600_000], big[600_000:]]), headers=operator)
    assert chunked.status_code == 413


# -- listing ------------------------------------------------------------------------------


def test_pages_follow_next_links_without_gaps_or_repeats(
    stack: RunningStack, api: httpx.Client, reader: dict[str, str]
) -> None:
    made = {idle_job(stack) for _ in range(5)}
    seen: list[str] = []
    link: str | None = "/v1/jobs?state=accepted&limit=2"
    while link:
        page = api.get(link, headers=reader)
        assert page.status_code == 200
        assert len(page.json()["jobs"]) <= 2
        seen += [job["job_id"] for job in page.json()["jobs"]]
        link = page.json()["next"]
        assert link is None or "state=accepted" in link
    assert len(seen) == len(set(seen)) and made <= set(seen)
    everyone = api.get("/v1/jobs?limit=200", headers=reader).json()["jobs"]
    accepted = [job["job_id"] for job in everyone if job["state"] == "accepted"]
    assert seen == accepted  # newest first, the same order as one big page


def test_filters_by_state_stage_and_instance(
    stack: RunningStack, api: httpx.Client, reader: dict[str, str]
) -> None:
    idle = idle_job(stack)
    both = api.get("/v1/jobs?state=accepted&state=succeeded&limit=200", headers=reader).json()
    assert {job["state"] for job in both["jobs"]} <= {"accepted", "succeeded"}
    assert idle in {job["job_id"] for job in both["jobs"]}
    done = api.get("/v1/jobs?stage=verify&limit=200", headers=reader).json()["jobs"]
    assert done and all(job["stage"] == "verify" for job in done)
    assert api.get("/v1/jobs?instance=elsewhere", headers=reader).json()["jobs"] == []
    bad = api.get("/v1/jobs?state=sleeping", headers=reader)
    assert bad.status_code == 422 and "state" in bad.json()["message"]


def test_a_cursor_not_from_the_gateway_is_400(api: httpx.Client, reader: dict[str, str]) -> None:
    for cursor in ("zzz", "bm90LWEtY3Vyc29y", "MjAyNi0wMS0wMXxhYmM"):
        answer = api.get(f"/v1/jobs?cursor={cursor}", headers=reader)
        assert answer.status_code == 400 and "cursor" in answer.json()["message"]


# -- the client certificate -----------------------------------------------------------------


def test_the_client_certificate_as_pem_and_der(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str], reader: dict[str, str]
) -> None:
    job_id = api.post("/v1/jobs", json=fresh_job(stack), headers=operator).json()["job_id"]
    wait_for(stack, job_id, JobState.SUCCEEDED)
    pem = api.get(f"/v1/jobs/{job_id}/client-certificate", headers=reader)
    der = api.get(f"/v1/jobs/{job_id}/client-certificate?format=der", headers=reader)
    assert pem.status_code == 200 and pem.headers["content-type"] == "application/x-pem-file"
    assert der.status_code == 200 and der.headers["content-type"] == "application/pkix-cert"
    assert "attachment" in der.headers["content-disposition"]
    from_pem = x509.load_pem_x509_certificate(pem.content)
    assert x509.load_der_x509_certificate(der.content) == from_pem
    subject = from_pem.subject.rfc4514_string()
    assert "CN=servicenow-payments-client" in subject
    assert (
        api.get(f"/v1/jobs/{job_id}/client-certificate?format=p12", headers=reader).status_code
        == 422
    )


def test_no_client_certificate_yet_is_409_saying_where_the_job_is(
    stack: RunningStack, api: httpx.Client, reader: dict[str, str]
) -> None:
    answer = api.get(f"/v1/jobs/{idle_job(stack)}/client-certificate", headers=reader)
    assert answer.status_code == 409
    assert "no client certificate yet" in answer.json()["message"]
    assert "import-chain" in answer.json()["hint"]
    assert api.get(f"/v1/jobs/{'f' * 32}/client-certificate", headers=reader).status_code == 404


# -- cancel -------------------------------------------------------------------------------


def test_cancel_records_who_and_why_and_is_idempotent(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    job_id = idle_job(stack)
    body = {"reason": "the partner withdrew"}
    first = api.post(f"/v1/jobs/{job_id}/cancel", json=body, headers=operator)
    again = api.post(f"/v1/jobs/{job_id}/cancel", json=body, headers=operator)
    assert first.status_code == again.status_code == 200
    assert first.json()["state"] == again.json()["state"] == "cancelled"
    (cancelled,) = events(stack, job_id, "job_cancelled")  # the second changed nothing
    assert cancelled["detail"]["reason"] == "the partner withdrew"
    assert cancelled["detail"]["actor"].startswith("token:twoway up")


def test_cancel_refuses_a_finished_job_and_an_empty_reason(
    stack: RunningStack, api: httpx.Client, operator: dict[str, str]
) -> None:
    job_id = api.post("/v1/jobs", json=fresh_job(stack), headers=operator).json()["job_id"]
    wait_for(stack, job_id, JobState.SUCCEEDED)
    late = api.post(f"/v1/jobs/{job_id}/cancel", json={"reason": "too late"}, headers=operator)
    assert late.status_code == 409 and "succeeded" in late.json()["message"]
    empty = api.post(f"/v1/jobs/{idle_job(stack)}/cancel", json={"reason": ""}, headers=operator)
    assert empty.status_code == 422 and "reason" in empty.json()["message"]
    blank = api.post(f"/v1/jobs/{idle_job(stack)}/cancel", json={"reason": "  "}, headers=operator)
    assert blank.status_code == 400 and "reason" in blank.json()["message"]
    unknown = api.post(f"/v1/jobs/{'e' * 32}/cancel", json={"reason": "x"}, headers=operator)
    assert unknown.status_code == 404
