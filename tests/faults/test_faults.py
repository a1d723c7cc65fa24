"""Whatever dies when, twoway loses nothing, duplicates nothing."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from messages import Stage
from ops.dev.stack import RunningStack
from tests.faults.conftest import add_partners, kill_worker_in, record, settle, submit

JOBS = 10


@pytest.mark.parametrize(
    ("fault_stack", "stage"),
    [((f"slow-stage:{stage.value}:1.5",), stage) for stage in Stage],
    indirect=["fault_stack"],
    ids=[stage.value for stage in Stage],
)
def test_kill_9_while_a_stage_is_in_progress(fault_stack: RunningStack, stage: Stage) -> None:
    jobs = submit(fault_stack, add_partners(fault_stack, JOBS))
    kill_worker_in(fault_stack, stage)
    outcome = settle(fault_stack, jobs)
    record(f"kill -9 in {stage.value}", outcome)


@pytest.mark.parametrize(
    "fault_stack",
    [
        tuple(
            f"crash-before-record:{s.value}"
            for s in (
                Stage.UPLOAD_KEYSTORE,
                Stage.REGISTER_TRUST,
                Stage.CREATE_PROFILE,
                Stage.ENABLE,
            )
        )
    ],
    indirect=True,
)
def test_worker_dies_after_servicenow_answered_before_recording(fault_stack: RunningStack) -> None:
    jobs = submit(fault_stack, add_partners(fault_stack, JOBS))
    # 40 process deaths, each a new worker process started (149 s alone, 233 s in one CI
    # run): room to finish, not a limit on how fast
    outcome = settle(fault_stack, jobs, timeout=480)
    record("worker dies after ServiceNow answered", outcome)
    for job_id in jobs:  # each job really lost a worker at each of the four stages
        for stage in ("upload-keystore", "register-trust", "create-profile", "enable"):
            assert fault_stack.app.store.artifacts.get(job_id, f"chaos:crashed:{stage}")


@pytest.mark.parametrize("fault_stack", [("duplicate-deliveries",)], indirect=True)
def test_every_message_delivered_twice(fault_stack: RunningStack) -> None:
    jobs = submit(fault_stack, add_partners(fault_stack, JOBS))
    record("every message delivered twice", settle(fault_stack, jobs))


OWNS_BROKER = os.environ.get("TWOWAY_TEST_OWNS_BROKER") == "1"


@pytest.mark.skipif(
    not OWNS_BROKER,
    reason="restarts the shared RabbitMQ; runs where the run owns the broker"
    " (.ci/run sets TWOWAY_TEST_OWNS_BROKER=1)",
)
def test_rabbitmq_restarted_during_a_run_of_100_jobs(fault_stack: RunningStack) -> None:
    partners = add_partners(fault_stack, 100)
    jobs = submit(fault_stack, partners[:50])
    time.sleep(1.0)  # the pipeline is busy
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=60)
    time.sleep(3.0)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    jobs.update(submit(fault_stack, partners[50:]))  # publishers reconnect by themselves
    record("RabbitMQ restarted (stop_app/start_app)", settle(fault_stack, jobs, timeout=400))
