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
