"""The platform's upload gates (servicenow-api.md 10): MIME validation and
``glide.attachment.role``, modelled by the sandbox, checked by doctor and plan, and turned
into a permanent error by upload-keystore, each naming the property to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workers.readiness.plan_fixtures import job, sandbox_registry, writes
from tests.workers.readiness.test_doctor import run
from workers.errors import ServiceNowRejected
from workers.readiness.doctor_uploads import upload_checks
from workers.readiness.plan import plan_job
from workers.servicenow import BasicAuth, Instance, InstanceFacts, ServiceNowClient, discover

MIME = "glide.security.file.mime_type.validation"
MIME_CHECK = f"{MIME} lets a keystore through"
ROLE_CHECK = "glide.attachment.role lets the integration user attach"


def _check(report: object, name: str) -> tuple[str, str]:
    (check,) = [c for c in report.checks if c.name == name]  # type: ignore[attr-defined]
    return check.status, check.fix


def test_doctor_refuses_mime_validation_on_a_listed_keystore_and_passes_once_changed() -> None:
    with sandbox_registry() as registry:
        srv = registry[0]
        assert _check(run(srv, registry), MIME_CHECK)[0] == "pass"  # no allow-list: unchecked
        srv.set_property("glide.attachment.extensions", "jks,p12,pdf")
        refused = run(srv, registry)
        status, fix = _check(refused, MIME_CHECK)
        assert not refused.ok and status == "fail" and MIME in fix
        srv.set_property(MIME, "false")
        passed = run(srv, registry)
        assert passed.ok and _check(passed, MIME_CHECK)[0] == "pass"
        assert writes(srv) == []


def test_the_role_check_names_the_property_and_admin_passes() -> None:
    from tests.workers.servicenow.test_sn_pure import FACTS

    gated = FACTS.model_copy(update={"attachment_roles": ("itil",)})
    status, fix = _check(_report(gated, ("web_service_admin",)), ROLE_CHECK)
    assert status == "fail" and "glide.attachment.role" in fix
    assert _check(_report(gated, ("admin",)), ROLE_CHECK)[0] == "pass"
    assert _check(_report(gated, None), ROLE_CHECK)[0] == "unknown"
    assert _check(_report(FACTS, ("web_service_admin",)), ROLE_CHECK)[0] == "pass"


def _report(facts: InstanceFacts, roles: tuple[str, ...] | None) -> object:
    from workers.readiness.doctor_model import DoctorReport

    checks = upload_checks(facts, roles, ("client.jks",))
    return DoctorReport(instance="x", url="x", user="x", checks=tuple(checks))


def test_plan_names_the_mime_property(tmp_path: Path) -> None:
    with sandbox_registry() as (srv, config, instances):
        srv.set_property("glide.attachment.extensions", "jks")
        plan = plan_job(job(), config, instances, state_dir=tmp_path)
        assert not plan.ready
        assert any(MIME in r.message and MIME in r.hint for r in plan.refusals), plan.refusals


def test_upload_keystore_turns_the_mime_refusal_into_a_permanent_error() -> None:
    from tests.workers.servicenow.conftest import _material

    material = _material()
    with sandbox_registry() as (srv, _, _):
        srv.set_property("glide.attachment.extensions", "jks")
        auth = BasicAuth(username=srv.username, password=srv.password)
        with ServiceNowClient(srv.url, auth, timeout=(1.0, 1.0)) as client:
            instance = Instance(client, discover(client))
            with pytest.raises(ServiceNowRejected) as caught:
                instance.ensure_keystore_record(
                    name="gated",
                    marker="twoway:job=0123456789abcdef0123456789abcdef",
                    keystore=material.keystore,
                    password=material.password,
                )
        assert "mime type does not match" in caught.value.sn_message
        assert MIME in caught.value.hint
        assert srv.dump()["sys_attachment"] == []


def test_plan_speaks_pkcs12_and_refuses_it_where_the_instance_offers_none(tmp_path: Path) -> None:
    from ops.dev.sandbox import SandboxFacts

    p12 = {"record_name": "p12 client", "alias": "twoway", "format": "pkcs12"}
    with sandbox_registry() as (_srv, config, instances):
        plan = plan_job(job(keystore=p12), config, instances, state_dir=tmp_path)
        assert plan.ready, plan.refusals
        [keystore] = [r for r in plan.creates if r.what == "keystore"]
        shown = {f.field: f.after for f in keystore.fields}
        assert shown["type"] == "pkcs12_key_store (PKCS12 Key Store)"
        assert shown["attachment"].startswith("twoway.p12: the PKCS12")
    with sandbox_registry(SandboxFacts(offer_pkcs12=False)) as (_srv, config, instances):
        plan = plan_job(job(keystore=p12), config, instances, state_dir=tmp_path)
        assert not plan.ready
        assert any("'PKCS12 Key Store'" in r.message for r in plan.refusals), plan.refusals


def test_known_platform_problems_are_reported_with_their_fix() -> None:
    from workers.readiness.platform_problems import key_size_note

    with sandbox_registry() as registry:
        srv = registry[0]
        report = run(srv, registry)
        assert _check(report, "not in FIPS mode (PRB1964424)")[0] == "unknown"  # not told
        assert _check(report, "keystore caching (PRB1878139)")[0] == "pass"
        srv.set_property("glide.security.fips.mode", "true")  # a property that tells
        srv.set_property("glide.httpclient.protocol.mauth.class", "x")
        report = run(srv, registry)
        status, fix = _check(report, "not in FIPS mode (PRB1964424)")
        assert status == "fail" and "PRB1964424" in fix
        status, fix = _check(report, "no legacy glide.httpclient.protocol.* properties")
        assert status == "fail" and "PRB1923704" in fix
    from messages import KeyType

    assert key_size_note(KeyType.RSA2048) is None and key_size_note(KeyType.EC384) is None
    assert "2048" in (key_size_note(KeyType.RSA4096) or "")


def test_plan_warns_but_does_not_refuse_a_key_above_2048_bits(tmp_path: Path) -> None:
    with sandbox_registry() as (_srv, config, instances):
        plan = plan_job(job(key={"type": "rsa4096"}), config, instances, state_dir=tmp_path)
        assert plan.ready, plan.refusals
        assert any("up to 2048 bits" in note for note in plan.notes), plan.notes


def test_plans_role_gate_reads_the_users_roles_only_when_a_list_is_set() -> None:
    from workers.readiness.doctor_uploads import attach_role_problem

    with sandbox_registry() as (srv, _config, _instances):
        auth = BasicAuth(username=srv.username, password=srv.password)
        with ServiceNowClient(srv.url, auth, timeout=(1.0, 1.0)) as client:
            instance = Instance(client, discover(client))
            assert attach_role_problem(instance, srv.readonly_username) is None  # no list
            srv.set_property("glide.attachment.role", "itil")
            instance = Instance(client, discover(client))
            problem = attach_role_problem(instance, srv.readonly_username)
            assert problem is not None and "glide.attachment.role lists itil" in problem
            assert attach_role_problem(instance, srv.username) is None  # admin passes
