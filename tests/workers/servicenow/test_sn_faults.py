"""Lost answers, resets, 5xx and 429 while the runbook runs: still one record of each."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import pytest

from ops.dev.sandbox import FaultPlan, SandboxServer
from workers.errors import ServiceNowUnavailable, TransientError
from workers.servicenow import Instance, ServiceNowClient, discover

if TYPE_CHECKING:
    from conftest import Material

T = TypeVar("T")
MARKER = "twoway:job=fedcba9876543210fedcba9876543210"


def until_done(action: Callable[[], T], attempts: int = 60) -> T:
    """Call ``action`` again on TransientError, as the pipeline's retries would."""
    for _ in range(attempts - 1):
        try:
            return action()
        except TransientError:
            continue
    return action()


def _everything(instance: Instance, material: Material) -> None:
    keystore = until_done(
        lambda: instance.ensure_keystore_record(
            name="Faulty mTLS",
            marker=MARKER,
            keystore=material.keystore,
            password=material.password,
        )
    )
    until_done(
        lambda: instance.ensure_trust_record(
            name="Faulty server", certificate_der=material.server_der
        )
    )
    until_done(
        lambda: instance.ensure_trust_record(
            name="Faulty DER", certificate_der=material.other_server_der, as_der_attachment=True
        )
    )
    profile = until_done(
        lambda: instance.ensure_protocol_profile(
            protocol="mauthfaulty", port=443, keystore_sys_id=keystore.sys_id
        )
    )
    target = until_done(lambda: instance.find_target("rest", "Payments API"))
    assert target is not None
    until_done(lambda: instance.enable_mutual_auth(target, profile.sys_id))


@pytest.mark.parametrize("after_write", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_repeated_runs_under_faults_leave_one_of_each(
    sandbox: SandboxServer,
    make_client: Callable[..., ServiceNowClient],
    material: Material,
    after_write: bool,
    seed: int,
) -> None:
    client = make_client(timeout=(1.0, 1.0), retries=2, backoff=0.005)
    instance = Instance(client, discover(client))
    sandbox.faults.set(
        FaultPlan(rate=0.3, seed=seed, after_write=after_write, slow_seconds=0.05, retry_after=0)
    )
    for _ in range(3):
        _everything(instance, material)
    assert sum(sandbox.faults.served.values()) > 20  # the faults really happened
    sandbox.faults.clear()
    dump = sandbox.dump()
    names = sorted((c["name"], c["active"]) for c in dump["sys_certificate"])
    assert names == [("Faulty DER", "true"), ("Faulty mTLS", "true"), ("Faulty server", "true")]
    attached = sorted(
        c["name"]
        for a in dump["sys_attachment"]
        for c in dump["sys_certificate"]
        if a["table_sys_id"] == c["sys_id"]
    )
    assert attached == ["Faulty DER", "Faulty mTLS"]
    assert [p["protocol"] for p in dump["sys_protocol_profile"]] == ["mauthfaulty"]
    assert {m["use_mutual_auth"] for m in dump["sys_rest_message_fn"]} == {"true"}
    assert sandbox.broken_keystores() == []


def test_a_create_that_timed_out_is_found_by_the_next_attempt(
    sandbox: SandboxServer, make_client: Callable[..., ServiceNowClient], material: Material
) -> None:
    client = make_client(timeout=(1.0, 0.2))
    instance = Instance(client, discover(client))
    keystore = instance.ensure_keystore_record(
        name="Slow", marker=MARKER, keystore=material.keystore, password=material.password
    )
    sandbox.faults.set(
        FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=0.5, methods=("POST",), max_faults=1)
    )
    with pytest.raises(ServiceNowUnavailable):
        instance.ensure_protocol_profile(protocol="slow", port=443, keystore_sys_id=keystore.sys_id)
    time.sleep(0.5)  # the instance finishes the write the client gave up on
    again = instance.ensure_protocol_profile(
        protocol="slow", port=443, keystore_sys_id=keystore.sys_id
    )
    assert not again.created
    assert [p["protocol"] for p in sandbox.dump()["sys_protocol_profile"]] == ["slow"]


def test_a_late_duplicate_profile_is_removed(
    sandbox: SandboxServer, client: ServiceNowClient, instance: Instance, material: Material
) -> None:
    keystore = instance.ensure_keystore_record(
        name="Dup", marker=MARKER, keystore=material.keystore, password=material.password
    )
    first = instance.ensure_protocol_profile(
        protocol="dup", port=443, keystore_sys_id=keystore.sys_id
    )
    target = instance.find_target("rest", "Payments API")
    assert target is not None
    instance.enable_mutual_auth(target, first.sys_id)
    # what a timed-out create landing after the retry's create leaves behind
    client.create(
        "sys_protocol_profile",
        {"protocol": "dup", "default_port": "443", "keystore": keystore.sys_id},
    )
    again = instance.ensure_protocol_profile(
        protocol="dup", port=443, keystore_sys_id=keystore.sys_id
    )
    assert again.sys_id == first.sys_id
    assert len(sandbox.dump()["sys_protocol_profile"]) == 1
