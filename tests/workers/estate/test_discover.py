"""Discovery on the estate sandbox: every record, every finding, read-only, within the
instance's call slots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops.dev.sandbox import Pacing
from ops.dev.sandbox.seed import SYSTEM_USER, add_rest_message
from ops.dev.stack import Stack, StackOptions
from workers.estate.inventory import discover_estate
from workers.estate.model import EstateReport

LIMIT = 2


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    options = StackOptions(estate=True, max_concurrent_calls=LIMIT, renewal_every_s=3600)
    with Stack(options) as running:
        yield running


@pytest.fixture(scope="module")
def report(stack: Stack) -> EstateReport:
    stack.sandbox.pace(Pacing(latency_ms=20))  # calls overlap, so the limit is tested
    stack.sandbox.request_log.clear()
    return discover_estate("sandbox", stack.app.config, stack.app.deps.instances)


def _codes(report: EstateReport, record: str) -> set[str]:
    return {f.code for f in report.findings if f.record == record}


def test_it_writes_nothing_and_stays_within_the_slots(stack: Stack, report: EstateReport) -> None:
    log = stack.sandbox.request_log
    assert log and {method for method, _, _ in log} == {"GET"}
    assert report.calls == len(log)
    assert 1 < stack.sandbox.max_in_flight <= LIMIT


def test_every_record(report: EstateReport) -> None:
    kinds = {c.name: c.kind for c in report.certificates}
    assert kinds["vendor client (PKCS12)"] == "pkcs12"
    assert kinds["shipping partner server"] == "trust"
    assert {m.name: m.kind for m in report.messages} == {
        "Billing API": "rest",
        "HR API": "rest",
        "Reports API": "rest",
        "Shipping API": "rest",
        "Vendor API": "rest",
        "Payroll API": "rest",  # on its profile through its endpoint's scheme only
        "Ledger SOAP": "soap",
    }
    states = {p.protocol: p.keystore_state for p in report.profiles}
    assert states["mauthhr"] == "inactive" and states["mauthreports"] == "missing"
    assert report.legacy_properties == ["glide.httpclient.protocol.mauthbilling.class"]
    vendor = next(c for c in report.certificates if c.kind == "pkcs12").certificate
    assert vendor.source == "derived" and vendor.key_type == "unknown" and vendor.ekus is None


def test_findings(stack: Stack, report: EstateReport) -> None:
    assert _codes(report, "keystore 'billing client (public CA)'") == {
        "public_ca_client_certificate"
    }
    assert _codes(report, "keystore 'shipping client (public CA)'") == {
        "public_ca_client_certificate",
        "expiring",
        "rsa_above_2048",
    }
    assert "expired" in _codes(report, "keystore 'ledger client'")
    assert _codes(report, "profile 'mauthledger'") == {"profile_keystore_expired"}
    assert _codes(report, "profile 'mauthhr'") == {"profile_keystore_inactive"}
    assert _codes(report, "rest 'Reports API'") == {"message_keystore_missing"}
    # the known platform problems are doctor's checks, reported here as findings
    platform = {f.record: f for f in report.findings if f.code == "platform_problem"}
    legacy = platform["no legacy glide.httpclient.protocol.* properties"]
    assert legacy.severity == "warning" and "mauthbilling" in legacy.message
    assert "PRB1923704" in legacy.fix
    assert platform["not in FIPS mode (PRB1964424)"].severity == "info"  # the sandbox says not
    assert "orphaned_keystore" in _codes(report, "keystore 'unused keystore 2023'")
    assert _codes(report, "trust cert 'old partner root 2015'") == {"orphaned_trust_cert"}
    assert "trust_pins_partner_leaf" in _codes(report, "trust cert 'shipping partner server'")
    [rotated] = [f for f in report.findings if f.code == "partner_not_trusted"]
    assert rotated.record == f"partner {stack.partner.url}"  # it rotated after the pinning
    assert all(f.fix for f in report.findings)
    assert [f.severity for f in report.findings] == sorted(
        (f.severity for f in report.findings), key=("critical", "high", "warning", "info").index
    )


def test_thresholds_are_configurable(stack: Stack) -> None:
    config = stack.app.config
    settings = config.estate.model_copy(update={"expiring_days": 5, "critical_days": 1})
    found = discover_estate(
        "sandbox", config, stack.app.deps.instances, settings=settings, probe=False
    )
    assert "expiring" not in {f.code for f in found.findings}  # 12 and 30 days are not < 5
    assert found.partners == []


def test_a_message_on_its_profile_through_the_endpoint_scheme(
    stack: Stack, report: EstateReport
) -> None:
    """Payroll API's checkbox is off; ``mauthpayroll://host:port/payroll`` is https to the
    payments partner with mutual auth through profile mauthpayroll."""
    [payroll] = [m for m in report.messages if m.name == "Payroll API"]
    assert (
        stack.sandbox.store.find("sys_rest_message", "name", "Payroll API")[0]["use_mutual_auth"]
        == "false"
    )
    [profile] = [p for p in report.profiles if p.protocol == "mauthpayroll"]
    assert (payroll.via, payroll.scheme, payroll.protocol) == (
        "scheme",
        "mauthpayroll",
        "mauthpayroll",
    )
    assert payroll.profile == profile.sys_id and payroll.methods == ["get", "post"]
    assert profile.used_by == ["rest:Payroll API"]
    assert _codes(report, "profile 'mauthpayroll'") == set()  # not an orphaned_profile
    assert all(f.code != "orphaned_profile" for f in report.findings)
    assert {m.via for m in report.messages if m.name != "Payroll API"} == {"checkbox"}
    [probe] = [p for p in report.partners if p.endpoint == payroll.endpoint]
    assert probe.probed and probe.presented is not None, probe.reason
    assert probe.presented.sha256 == next(
        p.presented.sha256 for p in report.partners if p.endpoint == stack.third_party.url
    )  # the payments partner, reached over https at the endpoint's host and port
    assert probe.trusted_by  # anchored by the payments partner's CA


def test_a_scheme_that_names_no_profile_is_a_finding(stack: Stack) -> None:
    store = stack.sandbox.store
    endpoint = "MAUTHGONE://payroll.partner.example/api"  # compared case-insensitively
    sys_id = add_rest_message(store, "Payroll old API", endpoint, ("get",))
    try:
        found = discover_estate("sandbox", stack.app.config, stack.app.deps.instances, probe=False)
    finally:
        for method in store.find("sys_rest_message_fn", "rest_message", sys_id):
            store.delete("sys_rest_message_fn", method["sys_id"], SYSTEM_USER)
        store.delete("sys_rest_message", sys_id, SYSTEM_USER)
    [message] = [m for m in found.messages if m.name == "Payroll old API"]
    assert (message.via, message.scheme, message.profile) == ("scheme", "mauthgone", None)
    [finding] = [f for f in found.findings if f.record == "rest 'Payroll old API'"]
    assert (finding.code, finding.severity) == ("scheme_profile_missing", "high")
    assert "mauthgone" in finding.message and "https://" in finding.fix
