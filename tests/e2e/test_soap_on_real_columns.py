"""A SOAP job end to end on the default sandbox, which follows ServiceNow's own SOAP script
includes (servicenow-api.md 4.4; docs/servicenow.md): the message and every function carry
``enable_mutual_auth`` and ``protocol_profile``; all are switched, proven, rolled back."""

from __future__ import annotations

import base64

from messages import JobState, KeyType, Stage
from ops.dev.stack import Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.e2e.conftest import UPDATE_STAMPS, dump_changes, local_ca, wait_all
from workers import pki
from workers.levers.rollback import rollback


def _switches(stack: Stack, message_id: str) -> list[tuple[str, str, str]]:
    dump = stack.sandbox.dump()
    rows = [m for m in dump["sys_soap_message"] if m["sys_id"] == message_id]
    rows += [f for f in dump["sys_soap_message_function"] if f["soap_message"] == message_id]
    return [(r.get("function_name", "(message)"), r["enable_mutual_auth"], r["protocol_profile"])
            for r in rows]  # fmt: skip


def test_a_soap_job_switches_the_message_and_every_function_and_rolls_back() -> None:
    with Stack(StackOptions(broker="stub")) as stack:
        partner = ThirdPartyServer([local_ca(stack).root_pem]).start()
        try:
            message_id = stack.sandbox.add_soap_message("Ledger mTLS", partner.url)
            second = {"soap_message": message_id, "function_name": "post", "soap_endpoint": ""}
            stack.sandbox.store.insert("sys_soap_message_function", second, "admin")
            before = stack.sandbox.dump()
            der = pki.cert_to_der(pki.parse_certificates(partner.server_certificate_pem)[0])
            job, _ = stack.app.submit(
                stack.example_job(
                    KeyType.RSA2048,
                    target={"kind": "soap", "name": "Ledger mTLS"},
                    keystore={"record_name": "twoway ledger client", "alias": "ledger"},
                    server_certificate={"der_b64": base64.b64encode(der).decode()},
                    protocol_profile={"name": "mauthledger", "port": partner.port},
                )
            )
            state = wait_all(stack, [job.id], timeout=60)[job.id]
            assert state is JobState.SUCCEEDED, stack.app.store.get_job(job.id).error
            [profile] = [
                p["sys_id"]
                for p in stack.sandbox.dump()["sys_protocol_profile"]
                if p["protocol"] == "mauthledger"
            ]
            switched = _switches(stack, message_id)
            print("\nswitched:", switched)
            assert len(switched) == 3  # the message and both functions
            assert all(row[1:] == ("true", profile) for row in switched)
            # enable's proof before the switch and verify's handshake, with our certificate
            assert partner.requests_served == 2
            enabled = stack.app.store.progress.get_output(job.id, Stage.ENABLE)
            print("enable:", enabled.message if enabled else None)
            report = rollback(stack.app, job.id, actor="test", reason="soap end to end")
            assert report.state is JobState.CANCELLED
            print("rolled back:", _switches(stack, message_id))
            assert all(row[1:] == ("false", "") for row in _switches(stack, message_id))
            for table, change in dump_changes(before, stack.sandbox.dump()).items():
                assert change["added"] == change["removed"] == [], table
                for columns in change["changed"].values():
                    assert set(columns) <= UPDATE_STAMPS, (table, columns)
        finally:
            partner.stop()
