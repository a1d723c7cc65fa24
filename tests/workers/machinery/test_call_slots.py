"""Call slots per instance in the store: never more than the limit taken, across threads,
processes and both databases; a killed holder's slots come back; InstanceBusy when full."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from workers.config import InstanceProfile
from workers.errors import InstanceBusy, TransientError
from workers.machinery.call_slots import InstanceSlots, keeping
from workers.metrics import Metrics, SlotCollector
from workers.sealing import Sealer
from workers.store import Store

LONG = timedelta(minutes=5)


@pytest.fixture
def store(store_url: str, sealer: Sealer) -> Iterator[Store]:
    s = Store(store_url, sealer)
    yield s
    s.close()


def profile(limit: int, wait_s: float = 0.5) -> InstanceProfile:
    return InstanceProfile(
        url="http://127.0.0.1:9",
        username_env="U",
        password_env="P",
        max_concurrent_calls=limit,
        slot_wait_s=wait_s,
    )


def test_no_more_slots_than_the_limit_and_a_given_back_one_is_free_again(store: Store) -> None:
    taken = [store.slots.take("i1", 3, f"o{n}", LONG) for n in range(4)]
    assert taken == [0, 1, 2, None]
    assert store.slots.take("i2", 3, "other", LONG) == 0  # per instance
    store.slots.give_back("i1", 1, "someone else")  # not the holder: nothing happens
    assert store.slots.take("i1", 3, "o5", LONG) is None
    store.slots.give_back("i1", 1, "o1")
    assert store.slots.take("i1", 3, "o6", LONG) == 1
    assert store.slots.take("i1", 2, "o7", LONG) is None  # a lower limit holds at once
    assert store.slots.in_use() == {"i1": 3, "i2": 1}


def test_an_expired_slot_is_taken_over(store: Store) -> None:
    assert store.slots.take("i1", 1, "dead", timedelta(seconds=-1)) == 0
    assert store.slots.take("i1", 1, "alive", LONG) == 0
    store.slots.give_back("i1", 0, "dead")  # the late holder cannot free another's slot
    assert store.slots.take("i1", 1, "third", LONG) is None


_HOLDER = """
import sys, time
from datetime import timedelta
from workers.sealing import Sealer
from workers.store import Store
store = Store(sys.argv[1], Sealer([sys.argv[2]]))
for n in range(2):
    assert store.slots.take("i1", 2, f"killed:{n}", timedelta(seconds=float(sys.argv[3]))) == n
print("held", flush=True)
time.sleep(600)
"""


@pytest.mark.slow  # the hold must outlast a loaded machine's pause between kill and look
def test_a_killed_workers_slots_come_back_when_their_hold_ends(store_url: str) -> None:
    key = Sealer.generate_key()
    store = Store(store_url, Sealer([key]))
    try:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, store_url, key, "4"],
            stdout=subprocess.PIPE,
            env={**os.environ},
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert store.slots.take("i1", 2, "next", LONG) is None  # held by the dead process
        deadline = time.monotonic() + 30
        while (slot := store.slots.take("i1", 2, "next", LONG)) is None:
            assert time.monotonic() < deadline, "the killed worker's slots never came back"
            time.sleep(0.2)
        assert slot == 0
    finally:
        store.close()


def test_threads_never_hold_more_than_the_limit(store: Store) -> None:
    slots = InstanceSlots("i1", profile(3, wait_s=30), store)
    lock, inside, peak, done = threading.Lock(), [0], [0], []

    def call() -> None:
        for _ in range(5):
            with slots.hold():
                with lock:
                    inside[0] += 1
                    peak[0] = max(peak[0], inside[0])
                time.sleep(0.005)
                with lock:
                    inside[0] -= 1
        done.append(1)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == 8
    assert 2 <= peak[0] <= 3  # calls did overlap, never beyond the limit
    assert store.slots.in_use() == {}


def test_a_full_instance_raises_instance_busy_a_transient_error(store: Store) -> None:
    for n in range(2):
        store.slots.take("i1", 2, f"elsewhere:{n}", LONG)
    metrics = Metrics()
    slots = InstanceSlots("i1", profile(2, wait_s=0.05), store, metrics)
    with pytest.raises(InstanceBusy) as caught, slots.hold():
        pytest.fail("a slot was handed out beyond the limit")
    assert isinstance(caught.value, TransientError) and caught.value.instance == "i1"
    assert metrics.registry.get_sample_value("twoway_instance_busy_total", {"instance": "i1"}) == 1
    metrics.watch(SlotCollector(store, {"i1": 2, "i3": 5}))
    sample = metrics.registry.get_sample_value
    assert sample("twoway_instance_max_concurrent_calls", {"instance": "i1"}) == 2
    assert sample("twoway_instance_calls_in_flight", {"instance": "i1"}) == 2
    assert sample("twoway_instance_calls_in_flight", {"instance": "i3"}) == 0
    store.slots.give_back("i1", 0, "elsewhere:0")
    with slots.hold() as slot:  # the process's local queue was left as it was
        assert slot == 0


def test_a_stage_run_keeps_its_slot_across_its_calls_and_gives_it_back_at_the_end(
    store: Store,
) -> None:
    slots = InstanceSlots("i1", profile(2, wait_s=0.05), store)
    with keeping():
        with slots.hold() as first:
            pass
        assert store.slots.in_use() == {"i1": 1}  # kept between the run's calls
        store.slots.take("i1", 2, "elsewhere", LONG)  # now every slot is taken
        with slots.hold() as second:  # the run is not turned away halfway
            assert second == first
    assert store.slots.in_use() == {"i1": 1}  # only the other holder's is left
    store.slots.take("i1", 2, "elsewhere too", LONG)
    with pytest.raises(InstanceBusy), slots.hold():  # a new run has to find a free slot
        pytest.fail("unreachable")
    with keeping(), pytest.raises(InstanceBusy), slots.hold():
        pytest.fail("unreachable")
