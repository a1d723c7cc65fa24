"""Jobs through separate worker processes on real RabbitMQ, checked on the instance."""

from __future__ import annotations

from collections import Counter

import pytest

from messages import JobState, Stage
from ops.dev.stack import RunningStack
from tests.e2e.conftest import Partner, add_partners, job_for, local_ca, sha256, wait_all


def check_instance(stack: RunningStack, jobs: dict[str, Partner]) -> None:
    """Exactly one keystore, trust record and profile per job, wired to its message."""
    store = stack.app.store
    dump = stack.sandbox.dump()
    certificates = dump["sys_certificate"]
    keystores = [r for r in certificates if r["type"] == "key_store"]
    trusts = [r for r in certificates if r["type"] == "trust_store"]
    profiles = dump["sys_protocol_profile"]
    assert len(keystores) == len(jobs) and len(trusts) == len(jobs) and len(profiles) == len(jobs)
    attachments = dump["sys_attachment"]
    for job_id, partner in jobs.items():
        [keystore] = [r for r in keystores if r["name"] == f"twoway partner {partner.index}"]
        assert keystore["active"] == "true"
        mine = [a for a in attachments if a["table_sys_id"] == keystore["sys_id"]]
        built = store.artifacts.get(job_id, "keystore")
        assert built is not None
        assert len(mine) == 1 and mine[0]["hash"] == sha256(built)
        server_pem = partner.server.server_certificate_pem.decode().strip()
        assert sum(r["pem_certificate"].strip() == server_pem for r in trusts) == 1
        [profile] = [p for p in profiles if p["protocol"] == f"mauthpartner{partner.index}"]
        assert profile["keystore"] == keystore["sys_id"]
        [message] = [m for m in dump["sys_rest_message"] if m["sys_id"] == partner.message_sys_id]
        methods = [
            f for f in dump["sys_rest_message_fn"] if f["rest_message"] == partner.message_sys_id
        ]
        assert len(methods) == 3
        for record in [message, *methods]:
            assert record["use_mutual_auth"] == "true"
            assert record["protocol_name"] == profile["sys_id"]


def test_twenty_jobs_through_worker_processes_all_succeed(rabbit_stack: RunningStack) -> None:
    partners = add_partners(rabbit_stack, 20)
    jobs = {}
    for partner in partners:
        key = "rsa2048" if partner.index % 5 == 0 else "ec256"
        job, created = rabbit_stack.app.submit(job_for(rabbit_stack, partner, key))
        assert created
        jobs[job.id] = partner
    states = wait_all(rabbit_stack, list(jobs))
    assert Counter(states.values()) == Counter({JobState.SUCCEEDED: 20}), {
        j: rabbit_stack.app.store.get_job(j).error
        for j, s in states.items()
        if s != JobState.SUCCEEDED
    }
    check_instance(rabbit_stack, jobs)
    assert local_ca(rabbit_stack).issued_count() == 20
    for partner in partners:
        assert partner.server.requests_served >= 1  # verify handshook with each third party
        partner.server.stop()


@pytest.mark.parametrize("rabbit_stack", [("duplicate-deliveries",)], indirect=True)
def test_every_message_delivered_twice_leaves_one_of_everything(rabbit_stack: RunningStack) -> None:
    partners = add_partners(rabbit_stack, 10)
    jobs = {}
    for partner in partners:
        job, _ = rabbit_stack.app.submit(job_for(rabbit_stack, partner))
        jobs[job.id] = partner
    states = wait_all(rabbit_stack, list(jobs))
    assert set(states.values()) == {JobState.SUCCEEDED}
    check_instance(rabbit_stack, jobs)
    assert local_ca(rabbit_stack).issued_count() == 10  # one signed certificate per job
    for job_id in jobs:
        job = rabbit_stack.app.store.get_job(job_id)
        assert job.attempts == {stage.value: 1 for stage in Stage}, job.attempts
    for partner in partners:
        partner.server.stop()
