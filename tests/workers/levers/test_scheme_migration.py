"""An integration on its profile only through its endpoint's scheme (Payroll API,
``mauthpayroll://host:port/payroll``, "Use mutual authentication" off): adopted without a
write, migrated to the local CA with the partner's pause, its profile re-pointed at the
new keystore while the message and its methods stay exactly as they were; rolled back,
the profile serves the old keystore again. A first job that rotates such a profile keeps
it on the old keystore until its own is proven, as for a profile messages use by their
checkbox."""

from __future__ import annotations

import time
from typing import Any

from ops.dev.stack import Stack, StackOptions
from tests.e2e.conftest import local_ca
from workers.levers.adopt import Selection, adopt_estate
from workers.levers.migrate import migrate
from workers.levers.rollback import rollback
from workers.pki import mtls_request, open_jks, parse_certificates
from workers.servicenow.schemes import https_url


def _message(stack: Stack) -> dict[str, Any]:
    """Payroll API's record and its methods' records, as the instance stores them."""
    dump = stack.sandbox.dump()
    [message] = [m for m in dump["sys_rest_message"] if m["name"] == "Payroll API"]
    methods = [m for m in dump["sys_rest_message_fn"] if m["rest_message"] == message["sys_id"]]
    return {"message": message, "methods": sorted(methods, key=lambda m: m["sys_id"])}


def _profile(stack: Stack) -> dict[str, str]:
    [profile] = stack.sandbox.store.find("sys_protocol_profile", "protocol", "mauthpayroll")
    return dict(profile)


def _wait(stack: Stack, job_id: str, states: set[str]) -> str:
    deadline = time.monotonic() + 120
    while (state := stack.app.store.get_job(job_id).state.value) not in states:
        assert time.monotonic() < deadline, stack.app.store.history(job_id)[-1]
        time.sleep(0.1)
    return state


def _call(stack: Stack, endpoint: str) -> int:
    """What the instance does when Payroll API is called: https to the endpoint's host with
    the keystore of the profile its scheme names."""
    profile = _profile(stack)
    store = stack.sandbox.store
    [attachment] = store.find("sys_attachment", "table_sys_id", profile["keystore"])
    password = store.secrets[("sys_certificate", profile["keystore"], "key_store_password")]
    contents = open_jks(store.blobs[attachment["sys_id"]], password, "twoway")
    return mtls_request(
        https_url(endpoint, profile["default_port"]),
        private_key_pem=contents.private_key_pem,
        chain=contents.chain,
        trust=parse_certificates(stack.third_party.server_ca_pem),
    ).status_code


def test_adopt_migrate_and_roll_back_a_message_on_its_scheme() -> None:
    options = StackOptions(
        estate=True,
        partner_trusts_ca=False,  # the payments partner trusts the corporate CA only
        probe_every_s=1.0,
        poll_every_s=0.5,
        renewal_every_s=3600,
    )
    with Stack(options) as stack:
        message, profile = _message(stack), _profile(stack)
        old = profile["keystore"]
        stack.sandbox.request_log.clear()
        picked = Selection(names=("Payroll API",))
        [adopted] = adopt_estate(stack.app, "sandbox", picked, ca="local", actor="t").adopted
        assert {method for method, _, _ in stack.sandbox.request_log} == {"GET"}
        job = stack.app.store.get_job(adopted["job_id"])
        assert job.request.protocol_profile.name == "mauthpayroll"

        batch = migrate(
            stack.app, "sandbox", ca="local", actor="t", reason="to the local CA", jobs=(job.id,)
        )
        [started] = batch.started
        renewal = started["renewal"]
        assert _wait(stack, renewal, {"waiting_for_third_party", "failed"}) != "failed"
        wait = stack.app.store.history(renewal)[-1].detail
        assert wait["endpoint"] == message["message"]["rest_endpoint"]
        assert _message(stack) == message and _profile(stack)["keystore"] == old

        stack.third_party.trust(local_ca(stack).root_pem)
        assert _wait(stack, renewal, {"succeeded", "failed"}) == "succeeded", (
            stack.app.store.get_job(renewal).error
        )
        assert _message(stack) == message  # not a field of the message or its methods moved
        new = _profile(stack)["keystore"]
        records = {c["sys_id"]: c for c in stack.sandbox.dump()["sys_certificate"]}
        assert new != old and records[new]["active"] == "true"
        assert records[old]["active"] == "false"
        assert _call(stack, message["message"]["rest_endpoint"]) == 200
        kinds = [e.kind for e in stack.app.store.history(renewal)]
        assert kinds.index("switch_proved") < kinds.index("renewal_switched")

        report = rollback(stack.app, renewal, actor="t", reason="back to the corporate CA")
        assert report.state.value == "cancelled"
        assert _message(stack) == message
        after = _profile(stack)
        assert {k: after[k] for k in ("protocol", "default_port", "keystore")} == {
            k: profile[k] for k in ("protocol", "default_port", "keystore")
        }
        records = {c["sys_id"]: c for c in stack.sandbox.dump()["sys_certificate"]}
        assert new not in records
        assert records[old]["active"] == "true", records[old]


def test_a_job_rotating_a_profile_used_by_scheme_only_defers_until_proven() -> None:
    with Stack(StackOptions(estate=True, renewal_every_s=3600)) as stack:
        message, profile = _message(stack), _profile(stack)
        request = {
            "instance": "sandbox",
            "target": {"kind": "rest", "name": "Payroll API"},
            "subject": {"cn": "payroll-client"},
            "ca": {"profile": "local"},
            "keystore": {"record_name": "twoway payroll client", "alias": "twoway"},
            "server_certificate": {"pem": stack.third_party.server_ca_pem.decode()},
            "protocol_profile": {"name": "mauthpayroll", "port": int(profile["default_port"])},
            "rotate": True,
        }
        job, _ = stack.app.submit(request)
        assert _wait(stack, job.id, {"succeeded", "failed"}) == "succeeded", (
            stack.app.store.get_job(job.id).error
        )
        kinds = [e.kind for e in stack.app.store.history(job.id)]
        assert kinds.index("profile_rotation_deferred") < kinds.index("switch_proved")
        assert _message(stack) == message
        assert _profile(stack)["keystore"] != profile["keystore"]
        assert _call(stack, message["message"]["rest_endpoint"]) == 200
