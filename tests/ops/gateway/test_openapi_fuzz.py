"""A property-based run over the gateway's own /openapi.json (schemathesis on hypothesis):
no generated input, valid or not, with or without a token, gets a 5xx.

Bounded and deterministic: at most EXAMPLES inputs per operation and mode, derandomized,
no example database. With a token the inputs reach the handlers, once with generated
job ids (mostly unknown) and once with the ids of real jobs in every state, so replay,
cancel and the certificate routes run against jobs that exist.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from messages import JobRequest, JobState
from ops.dev.stack import RunningStack

from .conftest import fresh_job, wait_for

EXAMPLES = 40
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
# Inputs the HTTP client itself refuses to send (a NUL in a header, say): never a request.
UNSENDABLE = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, ValueError)


@pytest.fixture(scope="module")
def schema(stack: RunningStack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.gateway.url}/openapi.json")


@pytest.fixture(scope="module")
def job_ids(stack: RunningStack) -> list[str]:
    """A succeeded, a failed and an accepted (idle) job."""
    done, _ = stack.app.submit(fresh_job(stack))
    wait_for(stack, done.id, JobState.SUCCEEDED)
    request = fresh_job(stack)
    stack.sandbox.forbid("sys_protocol_profile", "create")
    try:
        failed, _ = stack.app.submit(request)
        wait_for(stack, failed.id, JobState.FAILED)
    finally:
        stack.sandbox.allow("sys_protocol_profile", "create")
    idle, _ = stack.app.store.create_job(JobRequest.model_validate(fresh_job(stack)))
    return [done.id, failed.id, idle.id]


def run(
    stack: RunningStack,
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    tally: Counter[int],
    job_id: str | None = None,
) -> None:
    fixed = {"job_id": job_id} if job_id and "{job_id}" in operation.path else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

    @SETTINGS
    @given(case=strategy)
    def check(case: Any) -> None:
        try:
            response = case.call(base_url=stack.gateway.url, headers=headers, timeout=30)
        except UNSENDABLE:
            hypothesis.reject()
        tally[response.status_code] += 1
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        )

    try:
        check()
    except hypothesis.errors.Unsatisfiable:
        if mode is not GenerationMode.NEGATIVE or operation.path != "/healthz":
            raise  # only /healthz has nothing that could be made invalid


def operations(schema: Any) -> list[Any]:
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 7
    return found


def test_no_generated_input_gets_a_5xx_with_an_operator_token(
    stack: RunningStack, schema: Any, job_ids: list[str], operator: dict[str, str]
) -> None:
    tally: Counter[int] = Counter()
    for operation in operations(schema):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run(stack, operation, mode, operator, tally)
            if "{job_id}" in operation.path:
                for job_id in job_ids:
                    run(stack, operation, mode, operator, tally, job_id=job_id)
    reached = {status for status in tally if status not in (401, 403, 404)}
    assert 200 in tally and 202 in tally and 409 in tally and 422 in tally, tally
    assert reached - {200, 202}, tally  # handlers answered more than success


def test_no_generated_input_gets_a_5xx_without_a_token(
    stack: RunningStack, schema: Any, job_ids: list[str]
) -> None:
    tally: Counter[int] = Counter()
    for operation in operations(schema):
        run(stack, operation, GenerationMode.POSITIVE, {}, tally, job_id=job_ids[0])
    assert tally[401] > 0 and all(status < 500 for status in tally), tally
