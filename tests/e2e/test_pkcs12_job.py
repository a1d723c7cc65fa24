"""A job asking for ``keystore.format = "pkcs12"``: a PKCS12 Key Store record holding a .p12
the sandbox loads as the instance would; renewed into a new PKCS12 record; rolled back
like a JKS one. An instance without
the PKCS12 choice refuses the job at upload-keystore, naming the way out."""

from __future__ import annotations

from messages import JobState, KeyType
from ops.dev.sandbox import SandboxFacts
from ops.dev.stack import Stack, StackOptions
from tests.e2e.conftest import wait_all
from workers.levers.renewal import renew
from workers.levers.rollback import rollback

P12 = {"record_name": "twoway payments p12", "alias": "twoway", "format": "pkcs12"}


def test_a_pkcs12_job_makes_a_pkcs12_key_store_record_and_rolls_back() -> None:
    with Stack(StackOptions(broker="stub")) as stack:
        job, _ = stack.app.submit(stack.example_job(KeyType.EC256, keystore=P12))
        state = wait_all(stack, [job.id], timeout=60)[job.id]
        assert state is JobState.SUCCEEDED, stack.app.store.get_job(job.id).error
        dump = stack.sandbox.dump()
        [record] = [c for c in dump["sys_certificate"] if c["name"] == P12["record_name"]]
        assert (record["type"], record["active"]) == ("pkcs12_key_store", "true")
        [attachment] = [a for a in dump["sys_attachment"] if a["table_sys_id"] == record["sys_id"]]
        assert attachment["file_name"] == "twoway.p12"
        assert record["subject"].startswith("CN=servicenow-payments-client")  # it loaded
        assert stack.sandbox.broken_keystores() == []
        assert stack.third_party.requests_served == 2  # the proof and verify's handshake
        # renewal keeps the format, and makes a new record (PRB1878139: never a changed file)
        renewal, created = renew(stack.app, job.id, actor="test", reason="pkcs12 renewal")
        assert created and renewal.request.keystore.format.value == "pkcs12"
        state = wait_all(stack, [renewal.id], timeout=60)[renewal.id]
        assert state is JobState.SUCCEEDED, stack.app.store.get_job(renewal.id).error
        dump = stack.sandbox.dump()
        [new] = [c for c in dump["sys_certificate"] if c["name"].endswith(" r1")]
        assert (new["type"], new["active"]) == ("pkcs12_key_store", "true")
        [profile] = [p for p in dump["sys_protocol_profile"] if p["protocol"] == "mauthpayments"]
        assert profile["keystore"] == new["sys_id"] != record["sys_id"]
        for done in (renewal.id, job.id):
            rollback(stack.app, done, actor="test", reason="pkcs12")
        names = [c["name"] for c in stack.sandbox.dump()["sys_certificate"]]
        assert not [n for n in names if n.startswith(P12["record_name"])]


def test_an_instance_without_the_pkcs12_choice_refuses_the_job() -> None:
    older = SandboxFacts(offer_pkcs12=False, offer_bcfks=False)
    with Stack(StackOptions(broker="stub", sandbox_facts=older)) as stack:
        job, _ = stack.app.submit(stack.example_job(KeyType.EC256, keystore=P12))
        state = wait_all(stack, [job.id], timeout=60)[job.id]
        assert state is JobState.FAILED
        error = stack.app.store.get_job(job.id).error
        assert error is not None and "PKCS12 Key Store" in str(error)
        assert stack.sandbox.dump()["sys_certificate"] == []
