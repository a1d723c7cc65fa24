"""The sandbox answering like a real instance: latency drawn from a distribution, its own
concurrency limit (queue, or refuse with 429/503), and the most calls it had in flight."""

from __future__ import annotations

import random
import threading
import time

import pytest
from pydantic import ValidationError

from ops.dev.sandbox import Pacing, SandboxServer
from tests.ops.dev.sandbox.conftest import Api

HELD_MS = 1000  # the first call's latency: the second arrives while it is served
PATH = "/api/now/table/sys_properties"


def test_latencies_follow_the_distribution_within_its_bounds() -> None:
    rng = random.Random(1)
    uniform = Pacing(distribution="uniform", low_ms=100, high_ms=300)
    draws = [uniform.draw_ms(rng) for _ in range(500)]
    assert min(draws) >= 100 and max(draws) <= 300 and len({round(d) for d in draws}) > 100
    lognormal = Pacing(distribution="lognormal", latency_ms=150, sigma=0.5, low_ms=50, high_ms=400)
    draws = sorted(lognormal.draw_ms(rng) for _ in range(1001))
    assert draws[0] >= 50 and draws[-1] <= 400 and 120 < draws[500] < 180  # median ~150
    assert Pacing(latency_ms=150).draw_ms(rng) == 150
    with pytest.raises(ValidationError, match="high_ms"):
        Pacing(distribution="uniform", low_ms=300, high_ms=100)


def _first_call_in_flight(srv: SandboxServer, api: Api) -> tuple[threading.Thread, list[int]]:
    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(api.get(PATH).status_code))
    first.start()
    while srv.pacer.stats()["in_flight"] == 0:
        time.sleep(0.005)
    return first, answers


@pytest.mark.parametrize("overflow", ["429", "503"])
def test_past_its_concurrency_the_instance_refuses(
    srv: SandboxServer, api: Api, overflow: str
) -> None:
    srv.pace(Pacing(latency_ms=HELD_MS, concurrency=1, overflow=overflow, retry_after_s=2))
    first, answers = _first_call_in_flight(srv, api)
    refused = Api(srv, srv.username, srv.password).get(PATH)
    first.join()
    assert refused.status_code == int(overflow) and refused.headers["Retry-After"] == "2"
    assert answers == [200]
    stats = srv.pacer.stats()
    assert (stats["max_in_flight"], stats["refused"], stats["served"]) == (2, 1, 1)


def test_past_its_concurrency_the_instance_queues(srv: SandboxServer, api: Api) -> None:
    srv.pace(Pacing(latency_ms=HELD_MS, concurrency=1, overflow="queue"))
    first, answers = _first_call_in_flight(srv, api)
    second = Api(srv, srv.username, srv.password)
    assert second.get(PATH).status_code == 200
    first.join()
    assert answers == [200]
    stats = srv.pacer.stats()
    assert (stats["max_in_flight"], stats["queued"], stats["served"]) == (2, 1, 2)
    assert srv.max_in_flight == 2


def test_the_control_plane_sets_and_reads_the_pacing(srv: SandboxServer, api: Api) -> None:
    bad = api.put("/sandbox/pacing", json={"distribution": "gaussian"})
    assert bad.status_code == 400
    set_ = api.put("/sandbox/pacing", json={"distribution": "uniform", "low_ms": 1, "high_ms": 2})
    assert set_.status_code == 200 and set_.json()["pacing"]["high_ms"] == 2
    api.get(PATH)
    stats = api.get("/sandbox/pacing").json()
    assert stats["served"] == 1 and stats["max_in_flight"] == 1
