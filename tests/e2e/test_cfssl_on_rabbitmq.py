"""Jobs signed by a real ``cfssl serve`` (authsign) through worker processes on RabbitMQ,
with every message delivered twice: no pause, and one signature per job at CFSSL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from messages import JobState, Stage
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.e2e.conftest import add_partners, job_for, wait_all
from tests.e2e.test_pipeline_on_rabbitmq import check_instance
from tests.factories import CfsslServer
from workers.config import CfsslCaProfile, load_config

KEY_ENV = "TWOWAY_TEST_CFSSL_KEY"


@pytest.fixture
def cfssl(tmp_path: Path) -> Iterator[CfsslServer]:
    server = CfsslServer(tmp_path / "cfssl").start()
    yield server
    server.stop()


@pytest.fixture
def stack(cfssl: CfsslServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStack]:
    monkeypatch.setenv(KEY_ENV, cfssl.auth_key)  # the workers read the auth key from it
    profile = CfsslCaProfile(
        adapter="cfssl",
        url=cfssl.url,
        profile="client",
        auth_key_env=KEY_ENV,
        trusted_roots_file=cfssl.root_file,
    )
    base = load_config()
    config = base.model_copy(update={"ca": {**base.ca, "corp": profile}})
    options = StackOptions(broker="rabbitmq", config=config, chaos=("duplicate-deliveries",))
    with Stack(options) as running:
        yield running


def test_cfssl_signs_each_job_once_under_duplicate_deliveries(
    stack: RunningStack, cfssl: CfsslServer
) -> None:
    partners = add_partners(stack, 10)
    jobs = {}
    for partner in partners:
        partner.server.trust(cfssl.root_pem)
        job, _ = stack.app.submit({**job_for(stack, partner), "ca": {"profile": "corp"}})
        jobs[job.id] = partner
    states = wait_all(stack, list(jobs))
    assert set(states.values()) == {JobState.SUCCEEDED}, {
        j: stack.app.store.get_job(j).error for j in jobs
    }
    assert cfssl.signed() == 10  # CFSSL's certdb: exactly one certificate per job
    check_instance(stack, jobs)
    for job_id, partner in jobs.items():
        history = stack.app.store.history(job_id)
        assert "waiting_for_ca" not in [event.kind for event in history]  # never paused
        assert stack.app.store.get_job(job_id).attempts == {s.value: 1 for s in Stage}
        [issued] = [e for e in history if e.kind == "certificate_issued"]
        assert issued.detail["ca"] == "corp"
        partner.server.stop()
