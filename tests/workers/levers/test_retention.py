"""Retention prunes only what nothing depends on: a replaced certificate's job once its
old keystore record is gone from the instance; never a current certificate's job, nor a
failed job whose records are on an instance; and it records what it removed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from messages import JobState
from ops.dev.stack import Stack, StackOptions
from ops.views.jobview import follow
from workers.config.retention import RetentionSettings
from workers.levers.renewal import renew
from workers.levers.retention import KEPT_ARTIFACTS, Retention


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(StackOptions(broker="stub")).start() as running:
        yield running


def _done(stack: Stack, job_id: str) -> JobState:
    return follow(stack.app.store, job_id, lambda _: None, timeout=120).state


def test_a_replaced_job_loses_its_artifacts_then_its_history_and_nothing_else(
    stack: Stack,
) -> None:
    store = stack.app.store
    old, _ = stack.app.submit(stack.example_job())
    assert _done(stack, old.id) is JobState.SUCCEEDED
    stack.sandbox.add_rest_message("Failed API", stack.third_party.url, methods=("get",))
    stack.sandbox.forbid("sys_rest_message", "update")  # 403 at enable: records stay
    failed, _ = stack.app.submit(
        stack.example_job(
            target={"kind": "rest", "name": "Failed API"},
            keystore={"record_name": "twoway failed", "alias": "twoway"},
            protocol_profile={"name": "mauthfailed", "port": stack.third_party.port},
        )
    )
    assert _done(stack, failed.id) is JobState.FAILED
    stack.sandbox.allow("sys_rest_message", "update")
    new, _ = renew(stack.app, old.id, actor="test", reason="retention test")
    assert _done(stack, new.id) is JobState.SUCCEEDED
    lever = Retention(stack.app)
    lever.settings = RetentionSettings(artifacts_days=1, ended_days=0)
    now = datetime.now(UTC)
    assert lever.run_once(now).jobs == []  # the old keystore record is still there
    later = now + timedelta(days=stack.app.config.renewal.grace_period_days + 2)
    assert stack.scheduler.run_once(now=later).deleted  # the record goes
    kept_before = set(store.artifacts.stored_for(new.id))
    report = lever.run_once(later)
    assert report.jobs == [old.id] and report.artifacts == 1 and report.bytes > 0
    assert set(store.artifacts.stored_for(old.id)) == set(KEPT_ARTIFACTS)
    applied = [e for e in store.history(old.id) if e.kind == "retention_applied"]
    assert len(applied) == 1 and "keystore" in applied[0].detail["artifacts"]
    assert set(store.artifacts.stored_for(new.id)) == kept_before  # current: untouched
    assert store.artifacts.stored_for(failed.id)  # its records are on the instance

    lever.settings = RetentionSettings(artifacts_days=1, history_days=1)
    events = len(store.history(old.id))
    report = lever.run_once(later)
    assert report.jobs == [old.id] and report.histories == 1 and report.events == events
    assert [e.kind for e in store.history(old.id)] == ["retention_applied"]
    assert lever.run_once(later).jobs == []  # nothing twice
    assert store.get_job(old.id).state is JobState.SUCCEEDED
    assert store.certificates.get(old.id) is not None  # still in the inventory
