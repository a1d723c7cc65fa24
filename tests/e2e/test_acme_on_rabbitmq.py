"""Jobs through a real ACME CA (pebble, validating through challtestsrv) on RabbitMQ, to
``verify`` (the keystore proven by the JVM's handshake with each partner): with every
message delivered twice, one order per job at pebble; a worker killed after the CA
accepted the finalize and before anything was stored resumes the same order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from messages import JobState, Stage
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.acme_servers import Pebble
from tests.e2e.conftest import add_partners, job_for, wait_all
from tests.e2e.test_pipeline_on_rabbitmq import check_instance
from tests.faults.conftest import keep_workers
from workers.config import AcmeCaProfile, load_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
JOBS = 6


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[Pebble]:
    server = Pebble(tmp_path / "pebble").start()
    yield server
    server.stop()


def acme_stack(
    pebble: Pebble, chaos: tuple[str, ...], lease_s: float = 15, **changes: Any
) -> RunningStack:
    profile = AcmeCaProfile.model_validate(
        {
            "adapter": "acme",
            "directory": pebble.directory_url,
            "ca_bundle": str(pebble.tls_root_file),
            "trusted_roots_file": str(pebble.write_root()),
            "challenge": {"type": "dns-01", "command": pebble.hook_command()},
            **changes,
        }
    )
    base = load_config()
    broker = base.broker.model_copy(update={"lease_s": lease_s})
    config = base.model_copy(update={"ca": {**base.ca, "corp": profile}, "broker": broker})
    return Stack(StackOptions(broker="rabbitmq", config=config, chaos=chaos, poll_every_s=1))


def submit(stack: RunningStack, pebble: Pebble, count: int) -> dict[str, Any]:
    jobs = {}
    for partner in add_partners(stack, count):
        partner.server.trust(pebble.root_pem())
        request = job_for(stack, partner)
        names = [f"partner-{partner.index}.mtls.example.test"]
        job, _ = stack.app.submit({**request, "dns_sans": names, "ca": {"profile": "corp"}})
        jobs[job.id] = partner
    return jobs


def seconds_in_wait_for_ca(stack: RunningStack, job_id: str) -> float:
    """From the start of wait-for-ca to its certificate (a pause and its resume included)."""
    history = stack.app.store.history(job_id)
    started = [e.at for e in history if e.stage == Stage.WAIT_FOR_CA]
    ended = [e.at for e in history if e.stage == Stage.IMPORT_CHAIN]
    return (min(ended) - min(started)).total_seconds() if started and ended else -1.0


def test_one_order_per_job_under_duplicate_deliveries(pebble: Pebble) -> None:
    with acme_stack(pebble, ("duplicate-deliveries",)) as stack:
        jobs = submit(stack, pebble, JOBS)
        states = wait_all(stack, list(jobs))
        assert set(states.values()) == {JobState.SUCCEEDED}, {
            j: stack.app.store.get_job(j).error for j in jobs
        }
        orders = pebble.orders_created()
        check_instance(stack, jobs)
        waits = sorted(seconds_in_wait_for_ca(stack, j) for j in jobs)
        print(
            f"\nacme e2e: jobs={len(jobs)} orders at pebble={orders}"
            f" duplicates={orders - len(jobs)} wait-for-ca s: min={waits[0]:.2f}"
            f" median={waits[len(waits) // 2]:.2f} max={waits[-1]:.2f}"
        )
        assert orders == len(jobs)  # pebble's own count: no job made a second order
        assert stack.app.store.acme.count_orders("corp") == len(jobs)
        for job_id, partner in jobs.items():
            job = stack.app.store.get_job(job_id)
            [issued] = [
                e
                for e in stack.app.store.history(job_id)
                if e.kind in ("certificate_issued", "ca_resumed")
            ]
            request_id = issued.detail.get("request_id")
            stored = stack.app.store.acme.order("corp", job_id)
            assert stored is not None and request_id == stored.url, (job.id, issued.detail)
            partner.server.stop()


def test_a_worker_killed_after_finalize_resumes_the_same_order(pebble: Pebble) -> None:
    # a short lease: the killed worker's job is taken over within 3 s, not 15
    with acme_stack(pebble, ("crash-after-finalize",), lease_s=3) as stack:
        jobs = submit(stack, pebble, 2)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            keep_workers(stack)  # what a supervisor does for the killed ones
            states = {stack.app.store.get_job(j).state for j in jobs}
            if states <= {JobState.SUCCEEDED, JobState.FAILED}:
                break
            time.sleep(0.25)
        assert {stack.app.store.get_job(j).state for j in jobs} == {JobState.SUCCEEDED}, {
            j: stack.app.store.get_job(j).error for j in jobs
        }
        markers = list((stack.state_dir / "chaos-finalized").iterdir())
        assert len(markers) == len(jobs)  # each job's worker really died after finalize
        assert sum(p.poll() is not None for p in stack.processes) >= len(jobs)
        assert pebble.orders_created() == len(jobs)  # the retry went on with that order
        for partner in jobs.values():
            partner.server.stop()


def test_an_order_still_processing_pauses_and_the_poller_resumes_it(pebble: Pebble) -> None:
    # issue_wait_s = 0: the run never waits for pebble's processing, so every job pauses
    with acme_stack(pebble, (), issue_wait_s=0) as stack:
        jobs = submit(stack, pebble, 3)
        states = wait_all(stack, list(jobs), through_waits=True)
        assert set(states.values()) == {JobState.SUCCEEDED}, {
            j: stack.app.store.get_job(j).error for j in jobs
        }
        for job_id, partner in jobs.items():
            history = stack.app.store.history(job_id)
            [paused] = [e for e in history if e.kind == "waiting_for_ca"]
            [resumed] = [e for e in history if e.kind == "ca_resumed"]
            assert resumed.detail["source"] == "poller"
            assert paused.detail["request_id"] == resumed.detail["request_id"]
            partner.server.stop()
        waits = sorted(seconds_in_wait_for_ca(stack, j) for j in jobs)
        print(f"\nacme paused: wait-for-ca s (poller every 1 s): {[round(w, 2) for w in waits]}")
        assert pebble.orders_created() == len(jobs)
