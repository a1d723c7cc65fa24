"""Each stage core on its own: what it reads, what it leaves on the instance, and that a
second delivery of the same message leaves exactly one of each thing."""

from __future__ import annotations

from messages import JobState, Stage
from tests.workers.stages.conftest import Cores
from workers.store.artifacts import Artifact


def _ours(cores: Cores, table: str, field: str, value: str) -> list[dict[str, str]]:
    return [row for row in cores.rows(table) if row.get(field) == value]


def test_generate_keeps_one_key_however_often_it_runs(fresh: Cores) -> None:
    job = fresh.start()
    payload = fresh.step(Stage.GENERATE)
    key = fresh.app.store.artifacts.get(job.id, Artifact.PRIVATE_KEY)
    fresh.redeliver(Stage.GENERATE, payload)
    fresh.rerun_core(Stage.GENERATE, payload)
    assert key is not None and b"PRIVATE KEY" in key
    assert fresh.app.store.artifacts.get(job.id, Artifact.PRIVATE_KEY) == key
    # csr has not started: the redelivery re-sends the recorded output, it does not run again
    first, resent = fresh.waiting(Stage.CSR)
    assert first == resent
    assert [e.kind for e in fresh.app.store.history(job.id)].count("stage_completed") == 1


def test_csr_and_the_local_ca_make_a_certificate_for_the_key(fresh: Cores) -> None:
    job = fresh.start()
    fresh.through(Stage.WAIT_FOR_CA)
    csr = fresh.app.store.artifacts.get(job.id, Artifact.CSR)
    leaf = fresh.app.store.artifacts.get(job.id, Artifact.CERTIFICATE)
    assert csr is not None and b"CERTIFICATE REQUEST" in csr
    assert leaf is not None and b"BEGIN CERTIFICATE" in leaf
    (issued,) = fresh.waiting(Stage.IMPORT_CHAIN)
    assert issued["job_id"] == job.id


def test_upload_keystore_leaves_one_active_record_when_delivered_twice(fresh: Cores) -> None:
    job = fresh.start()
    fresh.through(Stage.IMPORT_CHAIN)
    payload = fresh.step(Stage.UPLOAD_KEYSTORE)
    (first,) = fresh.waiting(Stage.REGISTER_TRUST)
    again = fresh.rerun_core(Stage.UPLOAD_KEYSTORE, payload)
    assert again.model_dump(mode="json") == first  # the same record, found, not made again
    name = job.request.keystore.record_name
    records = _ours(fresh, "sys_certificate", "name", name)
    assert len(records) == 1
    assert records[0]["active"] == "true"
    attachments = _ours(fresh, "sys_attachment", "table_sys_id", records[0]["sys_id"])
    assert len(attachments) == 1


def test_the_whole_runbook_one_stage_at_a_time(fresh: Cores) -> None:
    job = fresh.start()
    fresh.through(Stage.VERIFY)
    done = fresh.app.store.get_job(job.id)
    assert done.state is JobState.SUCCEEDED, done
    profile = _ours(fresh, "sys_protocol_profile", "protocol", job.request.protocol_profile.name)
    assert len(profile) == 1
    kinds = [event.kind for event in fresh.app.store.history(job.id)]
    assert kinds.count("stage_completed") == 9
    assert "handshake_succeeded" in kinds


def test_register_trust_create_profile_and_enable_find_what_they_made(fresh: Cores) -> None:
    job = fresh.start()
    fresh.through(Stage.UPLOAD_KEYSTORE)
    for stage in (Stage.REGISTER_TRUST, Stage.CREATE_PROFILE, Stage.ENABLE):
        payload = fresh.step(stage)
        (sent,) = fresh.waiting(fresh.app.runtime.routes[stage].next_stage or stage)
        assert fresh.rerun_core(stage, payload).model_dump(mode="json") == sent
    name = job.request.protocol_profile.name
    assert len(_ours(fresh, "sys_protocol_profile", "protocol", name)) == 1
    methods = [r for r in fresh.rows("sys_rest_message_fn") if r.get("protocol_name")]
    assert methods and all(r.get("use_mutual_auth") == "true" for r in methods)
