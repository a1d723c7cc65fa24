"""``StageContext.exclusive``: one stage run at a time, across jobs, per name."""

from __future__ import annotations

import pytest

import messages
from messages import Stage
from tests.factories import good
from tests.workers.harness import Harness
from workers.errors import TransientError
from workers.machinery.context import StageContext


def _run(h: Harness) -> StageContext:
    job, _ = h.store.create_job(messages.JobRequest.model_validate(good()))
    return StageContext(h.deps, job, Stage.REGISTER_TRUST)


def test_a_second_run_waits_then_gives_up_with_a_retryable_error(h: Harness) -> None:
    first, second = _run(h), _run(h)
    with first.exclusive("trust abc on sandbox"):
        refused = pytest.raises(TransientError, match="another job is working on trust abc")
        with refused, second.exclusive("trust abc on sandbox", wait_s=0.05):
            pass
        with second.exclusive("trust abc on other"):  # another name is another lease
            pass
    with second.exclusive("trust abc on sandbox", wait_s=0.05):  # free again
        pass


def test_a_holder_that_died_keeps_the_others_out_no_longer_than_its_lease(h: Harness) -> None:
    dead, alive = _run(h), _run(h)
    block = dead.exclusive("trust abc on sandbox", hold_s=-1)  # as if its lease ran out
    block.__enter__()  # and its run died inside: never left
    with alive.exclusive("trust abc on sandbox", wait_s=0.05):
        pass
