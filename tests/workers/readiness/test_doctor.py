"""``doctor``: read-only checks of an instance before a first job, against the default
sandbox, the alternative-facts sandbox and one whose integration user lacks admin."""

from __future__ import annotations

import socket

import pytest

from ops.dev.sandbox import SandboxFacts, SandboxServer
from tests.e2e.test_alternative_facts import OTHER
from tests.workers.readiness.plan_fixtures import sandbox_registry, writes
from workers.config import InstanceProfile, load_config
from workers.machinery.deps import InstanceRegistry
from workers.readiness.doctor import DoctorReport, doctor


def run(srv: SandboxServer, registry: tuple[object, ...]) -> DoctorReport:
    _, config, instances = registry
    environ = {"PLAN_TEST_USER": srv.username, "PLAN_TEST_PASSWORD": srv.password}
    return doctor("sandbox", config, instances, environ=environ)  # type: ignore[arg-type]


def status(report: DoctorReport, name: str) -> str:
    (check,) = [c for c in report.checks if c.name == name]
    return check.status


@pytest.mark.parametrize("facts", [None, OTHER], ids=["default", "alternative-facts"])
def test_a_ready_instance_passes_with_what_discovery_found(facts: SandboxFacts | None) -> None:
    with sandbox_registry(facts) as registry:
        srv = registry[0]
        report = run(srv, registry)
        assert report.ok, [c for c in report.checks if c.status == "fail"]
        by_name = {c.name: c for c in report.checks}
        keystore = by_name["sys_certificate.type 'Java Key Store'"].detail
        assert keystore == f"stored value {(facts or SandboxFacts()).keystore_type[0]!r}"
        assert status(report, "admin (certificates, protocol profiles)") == "pass"
        assert status(report, "write sys_certificate") == "pass"
        assert status(report, "read sys_rest_message") == "pass"
        # PKCS12 is offered by the default sandbox, not by the alternative one
        assert status(report, "sys_certificate.type 'PKCS12 Key Store'") == (
            "pass" if facts is None else "unknown"
        )
        assert writes(srv) == []


def test_a_user_without_admin_fails_on_certificates_and_profiles() -> None:
    with sandbox_registry(integration_roles=("web_service_admin",)) as registry:
        srv = registry[0]
        report = run(srv, registry)
        assert not report.ok
        failed = {c.name for c in report.checks if c.status == "fail"}
        assert {
            "admin (certificates, protocol profiles)",
            "read sys_certificate",
            "write sys_certificate",
            "read sys_protocol_profile",
            "write sys_protocol_profile",
        } <= failed
        assert status(report, "web_service_admin or admin (REST and SOAP messages)") == "pass"
        assert status(report, "write sys_rest_message") == "pass"
        assert status(report, "sys_certificate.key_store_password type") == "unknown"
        assert writes(srv) == []


def test_unreadable_roles_make_writes_unknown_not_passed() -> None:
    facts = SandboxFacts(user_roles_readable=False)
    with sandbox_registry(facts, integration_roles=("web_service_admin",)) as registry:
        report = run(registry[0], registry)
        assert status(report, "admin (certificates, protocol profiles)") == "unknown"
        assert status(report, "write sys_rest_message") == "unknown"


def test_properties_that_break_jobs_fail_with_their_fix() -> None:
    with sandbox_registry() as registry:
        srv = registry[0]
        srv.set_property("glide.attachment.extensions", "pdf,png")
        srv.set_property("glide.httpclient.protocol.mauth.port", "8443")
        report = run(srv, registry)
        by_name = {c.name: c for c in report.checks}
        extensions = by_name["glide.attachment.extensions admits .jks"]
        assert extensions.status == "fail" and "add jks" in extensions.fix
        legacy = by_name["no legacy glide.httpclient.protocol.* properties"]
        assert legacy.status == "fail" and "glide.httpclient.protocol.mauth.port" in legacy.detail


def test_wrong_credentials_stop_after_the_connection_checks() -> None:
    with sandbox_registry() as (srv, config, _):
        wrong = {"PLAN_TEST_USER": srv.username, "PLAN_TEST_PASSWORD": "not-it"}
        report = doctor("sandbox", config, InstanceRegistry(config, environ=wrong), environ=wrong)
        assert [(c.name, c.status) for c in report.checks] == [
            ("instance reachable", "pass"),
            ("credentials accepted", "fail"),
        ]


@pytest.mark.slow  # the client retries a refused connection with backoff (about 6 s)
def test_an_unreachable_instance_stops_at_the_first_check() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = InstanceProfile(
        url=f"http://127.0.0.1:{port}",
        username_env="PLAN_TEST_USER",
        password_env="PLAN_TEST_PASSWORD",
        connect_timeout_s=0.5,
    )
    config = load_config().with_instance("gone", profile)
    env = {"PLAN_TEST_USER": "u", "PLAN_TEST_PASSWORD": "p"}
    registry = InstanceRegistry(config, environ=env)
    report = doctor("gone", config, registry, environ=env)
    assert [(c.name, c.status) for c in report.checks] == [("instance reachable", "fail")]
