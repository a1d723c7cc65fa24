"""What a real instance does that the documentation does not say (servicenow-api.md 2.5,
10; docs/servicenow.md): the sandbox's default follows it and twoway copes with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ops.dev.sandbox import SandboxFacts, SandboxServer
from workers.servicenow import Instance, ServiceNowClient, discover

if TYPE_CHECKING:
    from conftest import Material

MARKER = "twoway:job=0123456789abcdef0123456789abcdef"


def _attachment_reads(srv: SandboxServer) -> list[str]:
    return [
        path
        for method, path, _ in srv.request_log
        if method == "GET" and "/table/sys_attachment/" in path
    ]


def test_upload_answers_pending_with_its_hash_and_twoway_uses_it(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    record = instance.ensure_keystore_record(
        name="pending", marker=MARKER, keystore=material.keystore, password=material.password
    )
    (attachment,) = sandbox.dump()["sys_attachment"]
    assert attachment["state"] == "pending"  # as a real instance answers right after upload
    assert record.attachment_sys_id == attachment["sys_id"]
    assert _attachment_reads(sandbox) == []  # the upload's own hash was enough


def test_without_hash_in_the_answer_sys_attachment_is_the_fallback(
    material: Material,
) -> None:
    documented = SandboxFacts(attachment_api_includes_hash=False)
    with SandboxServer(documented) as srv:
        from workers.servicenow import BasicAuth

        auth = BasicAuth(username=srv.username, password=srv.password)
        with ServiceNowClient(srv.url, auth, timeout=(1.0, 1.0)) as client:
            instance = Instance(client, discover(client))
            instance.ensure_keystore_record(
                name="fallback",
                marker=MARKER,
                keystore=material.keystore,
                password=material.password,
            )
        assert len(_attachment_reads(srv)) == 1


def test_label_lookups_pick_the_right_one_of_four_type_choices(
    sandbox: SandboxServer, client: ServiceNowClient
) -> None:
    from workers.servicenow.facts import choices

    types = choices(client, "sys_certificate", "type")
    assert len(types) == 4 and types["bcfks keystore"] == "bcfks_key_store"
    facts = discover(client)
    assert (facts.keystore_type, facts.trust_type, facts.pkcs12_type) == (
        "key_store",
        "trust_store",
        "pkcs12_key_store",
    )
    assert "bcfks_key_store" not in facts.keystore_types  # not a JKS/PKCS12 profile keystore


def test_password2_written_without_the_display_value_flag_is_refused(
    material: Material,
) -> None:
    from workers.errors import ServiceNowRejected
    from workers.servicenow import BasicAuth

    strict = SandboxFacts(password2_needs_display_value=True)
    with SandboxServer(strict) as srv:
        auth = BasicAuth(username=srv.username, password=srv.password)
        with ServiceNowClient(srv.url, auth, timeout=(1.0, 1.0)) as client:
            bare = client.create("sys_certificate", {"name": "bare", "active": "false"})
            try:
                client.update(
                    "sys_certificate", bare["sys_id"], {"key_store_password": "clear-text-secret"}
                )
            except ServiceNowRejected as exc:
                assert "expecting encrypted data" in exc.sn_detail
            else:
                raise AssertionError("clear text on a Password2 field was accepted")
            instance = Instance(client, discover(client))
            record = instance.ensure_keystore_record(
                name="strict", marker=MARKER, keystore=material.keystore, password=material.password
            )
        assert srv.broken_keystores() == []
        assert srv.store.secret("sys_certificate", record.sys_id, "key_store_password") == (
            material.password
        )


def test_keystore_caching_keeps_the_first_keystore_and_a_rotation_makes_a_new_record(
    material: Material,
) -> None:
    """PRB1878139: with the sandbox's caching mode a changed attachment is not picked up, so
    twoway's renewal request names a new keystore record instead of changing the old."""
    from tests.factories import good
    from workers.levers.renewal import renewal_request
    from workers.servicenow import BasicAuth

    for caching in (False, True):
        with SandboxServer(SandboxFacts(cache_loaded_keystores=caching)) as srv:
            auth = BasicAuth(username=srv.username, password=srv.password)
            with ServiceNowClient(srv.url, auth, timeout=(1.0, 1.0)) as client:
                instance = Instance(client, discover(client))
                record = instance.ensure_keystore_record(
                    name="cached", marker=MARKER, keystore=material.keystore,
                    password=material.password,
                )  # fmt: skip
                # the file changes under the active record (a password it does not open with)
                client.update("sys_certificate", record.sys_id, {"key_store_password": "wrong-one"},
                              input_display_value=True)  # fmt: skip
            assert (srv.broken_keystores() == []) is caching
    from messages import JobRequest

    old = JobRequest.model_validate(good())
    assert renewal_request(old, 1, 1).keystore.record_name != old.keystore.record_name
