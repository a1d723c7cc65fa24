"""The scheduler renews an adopted integration like one twoway made: new key from the CA
profile the adopter named, a new keystore record, proof before the switch, the existing
profile re-pointed, the old record retired. Here the expired SOAP integration."""

from __future__ import annotations

import time

from ops.dev.stack import Stack, StackOptions
from workers.levers.adopt import Selection, adopt_estate
from workers.levers.renewal import inventory


def test_the_scheduler_renews_the_adopted_expired_soap_integration() -> None:
    with Stack(StackOptions(estate=True, renewal_every_s=3600)) as stack:
        picked = Selection(names=("Ledger SOAP",))
        [adopted] = adopt_estate(stack.app, "sandbox", picked, ca="local", actor="t").adopted
        [profile] = stack.sandbox.store.find("sys_protocol_profile", "protocol", "mauthledger")
        old = profile["keystore"]
        report = stack.scheduler.run_once()
        renewal = report.started[adopted["job_id"]]
        deadline = time.monotonic() + 120
        while not stack.app.store.get_job(renewal).terminal:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        job = stack.app.store.get_job(renewal)
        assert job.state.value == "succeeded", job.error
        kinds = [e.kind for e in stack.app.store.history(renewal)]
        assert kinds.index("switch_proved") < kinds.index("renewal_switched")
        [profile] = stack.sandbox.store.find("sys_protocol_profile", "protocol", "mauthledger")
        records = {c["sys_id"]: c for c in stack.sandbox.dump()["sys_certificate"]}
        assert profile["keystore"] != old and records[profile["keystore"]]["active"] == "true"
        assert records[old]["active"] == "false" and records[old]["name"] == "ledger client"
        assert records[profile["keystore"]]["name"] == "ledger client r1"
        assert "twoway" in records[profile["keystore"]]["issuer"]
        assert stack.sandbox.broken_keystores() == []
        states = {c.job_id: c.state for c in inventory(stack.app)}
        assert states[adopted["job_id"]] == "replaced" and states[renewal] == "current"
