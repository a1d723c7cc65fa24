"""Adoption: discovered integrations become managed certificates, the instance untouched;
adopting twice is harmless; what cannot be adopted says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ops.dev.stack import Stack, StackOptions
from workers.errors import ConfigError
from workers.levers.adopt import AdoptionResult, Selection, adopt_estate
from workers.levers.renewal import inventory


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(StackOptions(estate=True, renewal_every_s=3600)) as running:
        yield running


@pytest.fixture(scope="module")
def adopted(stack: Stack) -> AdoptionResult:
    stack.sandbox.request_log.clear()
    before = stack.sandbox.dump()
    result = adopt_estate(stack.app, "sandbox", Selection(everything=True), ca="local", actor="t")
    assert stack.sandbox.dump() == before
    return result


def test_nothing_changes_on_the_instance(stack: Stack, adopted: AdoptionResult) -> None:
    assert {method for method, _, _ in stack.sandbox.request_log} == {"GET"}


def test_adopted_ones_are_managed_with_their_not_after(
    stack: Stack, adopted: AdoptionResult
) -> None:
    names = {a["name"] for a in adopted.adopted}
    # Payroll API: on its profile through its endpoint's scheme (mauthpayroll://)
    assert names == {"Billing API", "Shipping API", "Ledger SOAP", "HR API", "Payroll API"}
    by_target = {c.target: c for c in inventory(stack.app)}
    assert by_target["Ledger SOAP"].state == "expired"
    assert by_target["Shipping API"].state == "due"  # 12 days left of a year
    dump = stack.sandbox.dump()
    expires = {c["name"]: c["expires"] for c in dump["sys_certificate"]}
    billing = by_target["Billing API"]
    assert billing.not_after.strftime("%Y-%m-%d %H:%M:%S") == expires["billing client (public CA)"]
    assert billing.keystore_sys_id == next(
        c["sys_id"] for c in dump["sys_certificate"] if c["name"] == "billing client (public CA)"
    )
    job = stack.app.store.get_job(billing.job_id)
    assert job.request.protocol_profile.name == "mauthbilling" and job.request.ca.profile == "local"
    assert "public_ca_client_certificate" in stack.app.store.history(job.id)[-1].detail["findings"]


def test_what_cannot_be_adopted_says_why(adopted: AdoptionResult) -> None:
    reasons = {s["name"]: s["reason"] for s in adopted.skipped}
    assert set(reasons) == {"Reports API", "Vendor API"}
    assert "no keystore" in reasons["Reports API"]
    assert "password" in reasons["Vendor API"]


def test_adopting_twice_is_harmless(stack: Stack, adopted: AdoptionResult) -> None:
    count = len(inventory(stack.app))
    again = adopt_estate(stack.app, "sandbox", Selection(everything=True), ca="local", actor="t")
    assert again.adopted == [] and len(again.already) == len(adopted.adopted)
    assert len(inventory(stack.app)) == count


def test_filters_and_unknown_ca(stack: Stack) -> None:
    picked = Selection(everything=True, finding="public_ca_client_certificate")
    result = adopt_estate(stack.app, "sandbox", picked, ca="local", actor="t")
    assert {a["name"] for a in result.already} == {"Billing API", "Shipping API"}
    with pytest.raises(ConfigError):
        adopt_estate(stack.app, "sandbox", Selection(names=("HR API",)), ca="nope", actor="t")


def test_an_adopted_integration_is_not_rolled_back(stack: Stack, adopted: AdoptionResult) -> None:
    from workers.errors import StateConflict
    from workers.levers.rollback import rollback

    before = stack.sandbox.dump()
    with pytest.raises(StateConflict, match="adopted"):
        rollback(stack.app, adopted.adopted[0]["job_id"], actor="t", reason="oops")
    assert stack.sandbox.dump() == before
