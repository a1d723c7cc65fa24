"""``twoway certificates``: a job whose message a later job took over (``replace``) is
``replaced`` by that job, not ``current``; the later one is current."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from messages import JobState
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.e2e.conftest import wait_all
from workers.levers.renewal import inventory


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        yield running


def test_a_job_taken_over_is_replaced_not_current(stack: RunningStack) -> None:
    first, _ = stack.app.submit(stack.example_job())
    assert wait_all(stack, [first.id], timeout=90)[first.id] is JobState.SUCCEEDED
    later, _ = stack.app.submit(
        stack.example_job(
            keystore={"record_name": "twoway payments client 2", "alias": "twoway"},
            protocol_profile={"name": "mauthpayments2", "port": stack.third_party.port},
            replace=True,
        )
    )
    assert wait_all(stack, [later.id], timeout=90)[later.id] is JobState.SUCCEEDED
    states = {c.job_id: (c.state, c.renewed_by) for c in inventory(stack.app)}
    assert states[first.id] == ("replaced", later.id)
    assert states[later.id] == ("current", None)
