"""The runbook's steps as idempotent operations, against a sandbox instance."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from ops.dev.sandbox import SandboxFacts, SandboxServer
from workers.errors import ServiceNowConflict, VerificationFailed
from workers.servicenow import BasicAuth, Instance, ServiceNowClient, TargetRef, discover

if TYPE_CHECKING:
    from conftest import Material

MARKER = "twoway:job=0123456789abcdef0123456789abcdef"
NAME = "Payments mTLS"


def _rows(srv: SandboxServer, table: str, **where: str) -> list[dict[str, str]]:
    return [r for r in srv.dump()[table] if all(r.get(k) == v for k, v in where.items())]


def _payments(instance: Instance) -> TargetRef:
    target = instance.find_target("rest", "Payments API")
    assert target is not None
    return target


def _run_sequence(instance: Instance, material: Material) -> dict[str, Any]:
    keystore = instance.ensure_keystore_record(
        name=NAME, marker=MARKER, keystore=material.keystore, password=material.password
    )
    trust = instance.ensure_trust_record(
        name="Payments server", certificate_der=material.server_der
    )
    profile = instance.ensure_protocol_profile(
        protocol="mauthpay", port=8443, keystore_sys_id=keystore.sys_id
    )
    target = _payments(instance)
    previous = instance.read_mutual_auth(target)
    instance.enable_mutual_auth(target, profile.sys_id)
    return {
        "keystore": keystore,
        "trust": trust,
        "profile": profile,
        "target": target,
        "previous": previous,
    }


def test_the_call_sequence_creates_exactly_the_expected_records(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    done = _run_sequence(instance, material)
    keystore, trust, profile = done["keystore"], done["trust"], done["profile"]
    assert keystore.created and trust.created and profile.created
    certs = sandbox.dump()["sys_certificate"]
    assert [(c["name"], c["type"], c["active"]) for c in certs] == [
        (NAME, "key_store", "true"),
        ("Payments server", "trust_store", "true"),
    ]
    assert MARKER in certs[0]["short_description"] and certs[0]["subject"]
    attachments = _rows(sandbox, "sys_attachment", table_sys_id=keystore.sys_id)
    assert [a["hash"] for a in attachments] == [hashlib.sha256(material.keystore).hexdigest()]
    assert attachments[0]["content_type"] == "application/octet-stream"
    assert keystore.attachment_sys_id == attachments[0]["sys_id"]
    assert [
        (p["protocol"], p["default_port"], p["keystore"])
        for p in sandbox.dump()["sys_protocol_profile"]
    ] == [("mauthpay", "8443", keystore.sys_id)]
    target: TargetRef = done["target"]
    for table, sys_id in [(target.table, target.sys_id)] + [
        ("sys_rest_message_fn", m) for m in target.method_sys_ids
    ]:
        row = _rows(sandbox, table, sys_id=sys_id)[0]
        assert (row["use_mutual_auth"], row["protocol_name"]) == ("true", profile.sys_id)
    # activated only once attachment and password were in place: nothing failed to load
    assert sandbox.broken_keystores() == [] and sandbox.dump()["syslog"] == []
    snapshot = instance.read_configuration(keystore.sys_id, trust.sys_id, profile.sys_id, target)
    assert (
        instance.check_configuration(
            snapshot,
            keystore_sha256=keystore.sha256,
            trust_sha256=trust.sha256,
            protocol="mauthpay",
        )
        == []
    )
    assert "key_store_password" not in (snapshot.keystore or {})
    assert instance.download_attachment(keystore.attachment_sys_id) == material.keystore


def test_running_everything_twice_leaves_one_of_each(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    first = _run_sequence(instance, material)
    before = sandbox.dump()
    second = _run_sequence(instance, material)
    after = sandbox.dump()
    for table in ("sys_certificate", "sys_attachment", "sys_protocol_profile", "syslog"):
        assert len(after[table]) == len(before[table]), table
    assert not (second["keystore"].created or second["trust"].created or second["profile"].created)
    assert second["keystore"] == first["keystore"].model_copy(update={"created": False})
    assert second["trust"].sys_id == first["trust"].sys_id
    assert second["profile"].sys_id == first["profile"].sys_id


def test_a_name_taken_by_a_foreign_record_is_a_conflict(
    sandbox: SandboxServer, client: ServiceNowClient, instance: Instance, material: Material
) -> None:
    client.create("sys_certificate", {"name": NAME, "short_description": "someone else's"})
    with pytest.raises(ServiceNowConflict) as caught:
        instance.ensure_keystore_record(
            name=NAME, marker=MARKER, keystore=material.keystore, password=material.password
        )
    assert "choose another" in caught.value.hint
    with pytest.raises(ServiceNowConflict):
        instance.ensure_trust_record(name=NAME, certificate_der=material.server_der)
    assert len(sandbox.dump()["sys_certificate"]) == 1


def test_a_new_keystore_replaces_the_attachment_without_staying_broken(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    first = instance.ensure_keystore_record(
        name=NAME, marker=MARKER, keystore=material.keystore, password=material.password
    )
    second = instance.ensure_keystore_record(
        name=NAME, marker=MARKER, keystore=material.other_keystore, password=material.password
    )
    assert second.sys_id == first.sys_id and second.attachment_sys_id != first.attachment_sys_id
    attachments = _rows(sandbox, "sys_attachment", table_sys_id=first.sys_id)
    assert [a["hash"] for a in attachments] == [second.sha256]
    assert _rows(sandbox, "sys_certificate", sys_id=first.sys_id)[0]["active"] == "true"
    assert sandbox.broken_keystores() == [] and sandbox.dump()["syslog"] == []


def test_a_keystore_the_instance_cannot_load_is_deactivated_again(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    with pytest.raises(VerificationFailed) as caught:
        instance.ensure_keystore_record(
            name=NAME, marker=MARKER, keystore=material.keystore, password="not-the-password"
        )
    assert caught.value.check == "keystore_load" and "not-the-password" not in str(caught.value)
    assert sandbox.dump()["sys_certificate"][0]["active"] == "false"
    assert sandbox.broken_keystores() == []
    # with the right password the same record is completed and activated
    fixed = instance.ensure_keystore_record(
        name=NAME, marker=MARKER, keystore=material.keystore, password=material.password
    )
    assert not fixed.created and sandbox.broken_keystores() == []


def test_a_wrong_password_on_an_active_record_does_not_stay_active(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    instance.ensure_keystore_record(
        name=NAME, marker=MARKER, keystore=material.keystore, password=material.password
    )
    with pytest.raises(VerificationFailed):
        instance.ensure_keystore_record(
            name=NAME, marker=MARKER, keystore=material.keystore, password="another-password"
        )
    assert sandbox.dump()["sys_certificate"][0]["active"] == "false"
    assert sandbox.broken_keystores() == []


def test_a_refused_extension_is_a_conflict_before_any_write(
    sandbox: SandboxServer, client: ServiceNowClient, material: Material
) -> None:
    from workers.servicenow import discover

    sandbox.set_property("glide.attachment.extensions", "pdf,png")
    instance = Instance(client, discover(client))
    with pytest.raises(ServiceNowConflict) as caught:
        instance.ensure_keystore_record(
            name=NAME, marker=MARKER, keystore=material.keystore, password=material.password
        )
    assert "glide.attachment.extensions" in caught.value.hint
    assert sandbox.dump()["sys_certificate"] == []


def test_trust_as_der_attachment_twice(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    first = instance.ensure_trust_record(
        name="Server DER", certificate_der=material.server_der, as_der_attachment=True
    )
    again = instance.ensure_trust_record(
        name="Server DER", certificate_der=material.server_der, as_der_attachment=True
    )
    assert first.created and not again.created and again.sys_id == first.sys_id
    (record,) = sandbox.dump()["sys_certificate"]
    assert (record["format"], record["active"], record["pem_certificate"]) == ("der", "true", "")
    assert record["short_description"] == f"twoway trust sha256:{first.sha256}"
    assert [a["hash"] for a in _rows(sandbox, "sys_attachment", table_sys_id=first.sys_id)] == [
        first.sha256
    ]


def test_a_profile_bound_to_another_keystore_is_refused_unless_rotating(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    old = instance.ensure_keystore_record(
        name="old", marker=MARKER, keystore=material.keystore, password=material.password
    )
    new = instance.ensure_keystore_record(
        name="new", marker=MARKER, keystore=material.other_keystore, password=material.password
    )
    made = instance.ensure_protocol_profile(protocol="mauth", port=443, keystore_sys_id=old.sys_id)
    with pytest.raises(ServiceNowConflict) as caught:
        instance.ensure_protocol_profile(protocol="mauth", port=443, keystore_sys_id=new.sys_id)
    assert "rotate" in caught.value.hint
    rotated = instance.ensure_protocol_profile(
        protocol="mauth", port=443, keystore_sys_id=new.sys_id, rotate=True
    )
    assert (rotated.sys_id, rotated.created, rotated.previous_keystore) == (
        made.sys_id,
        False,
        old.sys_id,
    )
    (profile,) = sandbox.dump()["sys_protocol_profile"]
    assert profile["keystore"] == new.sys_id


def test_a_profile_needs_a_keystore_record(instance: Instance, material: Material) -> None:
    trust = instance.ensure_trust_record(name="t", certificate_der=material.server_der)
    with pytest.raises(ServiceNowConflict):
        instance.ensure_protocol_profile(protocol="mauth", port=443, keystore_sys_id=trust.sys_id)


def test_enable_then_restore_puts_back_the_exact_previous_values(
    sandbox: SandboxServer, client: ServiceNowClient, instance: Instance
) -> None:
    target = _payments(instance)
    other = client.create("sys_protocol_profile", {"protocol": "legacy"})
    client.update(
        "sys_rest_message_fn",
        target.method_sys_ids[0],
        {"use_mutual_auth": "true", "protocol_name": other["sys_id"]},
    )
    previous = instance.read_mutual_auth(target)
    profile = client.create("sys_protocol_profile", {"protocol": "mauth"})
    instance.enable_mutual_auth(target, profile["sys_id"])
    instance.enable_mutual_auth(target, profile["sys_id"])  # twice is harmless
    assert {r["protocol_name"] for r in instance.read_mutual_auth(target).values()} == {
        profile["sys_id"]
    }
    instance.restore_mutual_auth(target, previous)
    assert instance.read_mutual_auth(target) == previous
    assert previous[target.method_sys_ids[0]]["protocol_name"] == other["sys_id"]
    assert previous[target.sys_id]["protocol_name"] == ""


def test_mid_server_and_oauth_methods_are_refused_before_any_change(
    sandbox: SandboxServer, client: ServiceNowClient, instance: Instance
) -> None:
    target = _payments(instance)
    profile = client.create("sys_protocol_profile", {"protocol": "mauth"})
    client.update("sys_rest_message_fn", target.method_sys_ids[1], {"use_mid_server": "f" * 32})
    before = instance.read_mutual_auth(target)
    with pytest.raises(ServiceNowConflict) as caught:
        instance.enable_mutual_auth(target, profile["sys_id"])
    assert "MID server" in str(caught.value)
    assert instance.read_mutual_auth(target) == before
    client.update("sys_rest_message_fn", target.method_sys_ids[1], {"use_mid_server": ""})
    client.update("sys_rest_message", target.sys_id, {"authentication_type": "oauth2"})
    with pytest.raises(ServiceNowConflict) as oauth:
        instance.enable_mutual_auth(target, profile["sys_id"])
    assert "OAuth" in str(oauth.value)


def test_soap_message_with_the_discovered_columns(
    sandbox: SandboxServer, client: ServiceNowClient, instance: Instance
) -> None:
    """The default sandbox follows ServiceNow's SOAP script includes (servicenow-api.md
    4.4): the message and every function are switched, each through its own columns."""
    target = instance.find_target("soap", "Ledger SOAP")
    assert target is not None and target.endpoint.endswith("/soap/ledger")
    (function,) = target.method_sys_ids
    assert target.method_table == "sys_soap_message_function"
    profile = client.create("sys_protocol_profile", {"protocol": "mauthsoap"})
    previous = instance.read_mutual_auth(target)
    instance.enable_mutual_auth(target, profile["sys_id"])
    (row,) = sandbox.dump()["sys_soap_message"]
    assert (row["enable_mutual_auth"], row["protocol_profile"]) == ("true", profile["sys_id"])
    (fn,) = sandbox.dump()["sys_soap_message_function"]
    assert (fn["sys_id"], fn["enable_mutual_auth"], fn["protocol_profile"]) == (
        function,
        "true",
        profile["sys_id"],
    )
    instance.restore_mutual_auth(target, previous)
    assert instance.read_mutual_auth(target) == previous
    (fn,) = sandbox.dump()["sys_soap_message_function"]
    assert (fn["enable_mutual_auth"], fn["protocol_profile"]) == ("false", "")


def test_soap_message_whose_functions_carry_no_columns() -> None:
    """The sandbox's earlier answer (``use_mutual_auth`` on the message, nothing on the
    functions), kept as an alternative: only the message is switched."""
    earlier = SandboxFacts(
        soap_mutual_auth_column="use_mutual_auth", soap_function_mutual_auth=False
    )
    with SandboxServer(earlier) as srv:
        auth = BasicAuth(username=srv.username, password=srv.password)
        with ServiceNowClient(srv.url, auth, timeout=(1.0, 1.0)) as client:
            instance = Instance(client, discover(client))
            target = instance.find_target("soap", "Ledger SOAP")
            assert target is not None and target.method_sys_ids == ()
            profile = client.create("sys_protocol_profile", {"protocol": "mauthsoap"})
            previous = instance.read_mutual_auth(target)
            instance.enable_mutual_auth(target, profile["sys_id"])
            (row,) = srv.dump()["sys_soap_message"]
            assert (row["use_mutual_auth"], row["protocol_profile"]) == ("true", profile["sys_id"])
            instance.restore_mutual_auth(target, previous)
            assert instance.read_mutual_auth(target) == previous


def test_unknown_targets_and_ambiguous_names(sandbox: SandboxServer, instance: Instance) -> None:
    assert instance.find_target("rest", "No such API") is None
    sandbox.add_rest_message("Twice", "https://a.example", methods=("get",))
    sandbox.add_rest_message("Twice", "https://b.example", methods=("get",))
    with pytest.raises(ServiceNowConflict):
        instance.find_target("rest", "Twice")


def test_check_configuration_sees_what_went_wrong_later(
    sandbox: SandboxServer, client: ServiceNowClient, instance: Instance, material: Material
) -> None:
    done = _run_sequence(instance, material)
    keystore, trust, profile, target = (done[k] for k in ("keystore", "trust", "profile", "target"))
    client.update("sys_rest_message_fn", target.method_sys_ids[2], {"use_mutual_auth": "false"})
    client.upload_attachment("sys_certificate", keystore.sys_id, "extra.jks", b"junk")
    sandbox.set_property("glide.httpclient.protocol.mauthpay.port", "8443")
    snapshot = instance.read_configuration(keystore.sys_id, trust.sys_id, profile.sys_id, target)
    problems = instance.check_configuration(snapshot, keystore_sha256=keystore.sha256)
    assert any("does not use mutual authentication" in p for p in problems)
    assert any("2 attachments" in p for p in problems)
    assert any("cannot load" in p for p in problems)  # the newest attachment is junk
    assert instance.configuration_warnings(snapshot) == [
        "legacy property glide.httpclient.protocol.mauthpay.port is set;"
        " KB0824494 advises backing it up and removing it"
    ]


def test_rollback_deactivates_and_deletes_idempotently(
    sandbox: SandboxServer, instance: Instance, material: Material
) -> None:
    keystore = instance.ensure_keystore_record(
        name=NAME, marker=MARKER, keystore=material.keystore, password=material.password
    )
    instance.deactivate_record("sys_certificate", keystore.sys_id)
    assert sandbox.dump()["sys_certificate"][0]["active"] == "false"
    instance.delete_record("sys_certificate", keystore.sys_id)
    instance.delete_record("sys_certificate", keystore.sys_id)
    instance.deactivate_record("sys_certificate", keystore.sys_id)
    assert sandbox.dump()["sys_certificate"] == [] and sandbox.dump()["sys_attachment"] == []
