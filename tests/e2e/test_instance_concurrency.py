"""The per-instance call limit on real RabbitMQ with several worker processes, and
fairness between instances: counted on the sandbox and in the store, never timed."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from messages import JobAccepted, JobState, KeyType, Stage
from ops.dev.sandbox import Pacing
from ops.dev.stack import SECOND, RunningStack, Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.e2e.conftest import add_partners, job_for, local_ca, wait_all
from workers.readiness.admission import parse_request
from workers.store import JobRecord

pytestmark = pytest.mark.slow

LIMIT = 2


def failures(stack: RunningStack, states: dict[str, JobState]) -> dict[str, Any]:
    return {
        j: stack.app.store.get_job(j).error for j, s in states.items() if s != JobState.SUCCEEDED
    }


def test_the_instance_never_sees_more_calls_at_once_than_the_limit() -> None:
    """8 worker threads in 2 processes, an instance that would take 8 calls at once: it
    never has more than max_concurrent_calls (2) in flight, and does reach it."""
    options = StackOptions(
        broker="rabbitmq",
        worker_processes=2,
        worker_threads=4,
        max_concurrent_calls=LIMIT,
        sandbox_pacing=Pacing(distribution="uniform", low_ms=5, high_ms=25, concurrency=8),
    )
    with Stack(options).start() as stack:
        jobs = [stack.app.submit(job_for(stack, p))[0].id for p in add_partners(stack, 6)]
        states = wait_all(stack, jobs)
        assert Counter(states.values()) == {JobState.SUCCEEDED: 6}, failures(stack, states)
        served = stack.sandbox.pacer.stats()
        assert served["served"] > 6 * 10
        assert stack.sandbox.max_in_flight == LIMIT
        assert stack.app.store.slots.in_use() == {}  # every slot was given back


def given_back(job: JobRecord, *, at_least: int) -> JobRecord | None:
    """The job if its first stage that calls the instance has started ``at_least`` times."""
    return job if job.attempts.get(Stage.UPLOAD_KEYSTORE.value, 0) >= at_least else None


def wait_for(probe: Callable[[], JobRecord | None], timeout: float = 60) -> JobRecord:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        assert time.monotonic() < deadline, "the job never came back to its stage"
        time.sleep(0.2)
    return found


def second_instance_job(
    stack: RunningStack, index: int, servers: list[ThirdPartyServer]
) -> dict[str, Any]:
    server = ThirdPartyServer([local_ca(stack).root_pem]).start()
    servers.append(server)
    name = f"Slow partner {index} API"
    stack.second.add_rest_message(name, server.url, methods=("get", "post", "delete"))
    return stack.example_job(
        KeyType.EC256,
        instance=SECOND,
        target={"kind": "rest", "name": name},
        subject={"cn": f"slow-{index}-client", "o": "twoway e2e", "c": "DE"},
        keystore={"record_name": f"twoway slow {index}", "alias": "twoway"},
        server_certificate={"pem": server.server_certificate_pem.decode()},
        protocol_profile={"name": f"mauthslow{index}", "port": server.port},
    )


def test_a_saturated_instance_does_not_hold_back_another_instances_jobs() -> None:
    """Every call slot of instance 2 is held elsewhere; its 4 jobs reach their first call
    and give their messages back again and again. With 2 worker threads, instance 1's 4
    jobs all succeed meanwhile; instance 2's jobs neither fail nor use up a retry, and
    succeed once its slots are free."""
    options = StackOptions(
        broker="rabbitmq",
        worker_processes=1,
        worker_threads=2,
        slot_wait_s=0.1,
        second_instance=Pacing(),
    )
    stack, servers = Stack(options), []
    with stack.start() as stack:
        app = stack.app
        slow_requests = [parse_request(second_instance_job(stack, n, servers)) for n in range(4)]
        limit = app.config.instance(SECOND).max_concurrent_calls
        for n in range(limit):  # another twoway deployment is using every slot
            assert app.store.slots.take(SECOND, limit, f"elsewhere:{n}", timedelta(hours=1)) == n
        slow = []
        for request in slow_requests:
            job, _ = app.store.create_job(request)
            app.runtime.send(app.runtime.routes.first.stage, JobAccepted(job_id=job.id))
            slow.append(job.id)
        fast = [app.submit(job_for(stack, p))[0].id for p in add_partners(stack, 4)]

        states = wait_all(stack, fast)
        assert Counter(states.values()) == {JobState.SUCCEEDED: 4}, failures(stack, states)
        for job_id in slow:  # each has been given back, and came back, at least once
            job = wait_for(lambda j=job_id: given_back(app.store.get_job(j), at_least=2))
            assert job.state is JobState.RUNNING and job.stage is Stage.UPLOAD_KEYSTORE
            kinds = [e.kind for e in app.store.history(job_id)]
            assert "stage_retry" not in kinds and "stage_failed" not in kinds
        assert stack.second.max_in_flight == 0  # nothing got past the held slots

        for n in range(limit):
            app.store.slots.give_back(SECOND, n, f"elsewhere:{n}")
        states = wait_all(stack, slow)
        assert Counter(states.values()) == {JobState.SUCCEEDED: 4}, failures(stack, states)
    for server in servers:
        server.stop()
