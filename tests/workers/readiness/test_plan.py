"""``plan``: what a job would create, change and reuse, and every reason it would be
refused, read from the sandbox instance without a single write."""

from __future__ import annotations

from pathlib import Path

from ops.dev.sandbox import LIVE_PROTOCOL
from tests.workers.readiness.plan_fixtures import job, sandbox_registry, writes
from workers.readiness.plan import Plan, plan_job


def fields(plan: Plan, kind: str, what: str) -> list[dict[str, tuple[str | None, str]]]:
    records = getattr(plan, kind)
    return [{f.field: (f.before, f.after) for f in r.fields} for r in records if r.what == what]


def test_a_ready_plan_lists_each_record_field_by_field(tmp_path: Path) -> None:
    with sandbox_registry() as (srv, config, instances):
        before = srv.dump()
        plan = plan_job(job(), config, instances, state_dir=tmp_path)
        assert plan.ready and plan.refusals == ()
        assert [r.what for r in plan.creates] == ["keystore", "trust", "profile"]
        (keystore,) = fields(plan, "creates", "keystore")
        assert keystore["name"] == (None, "twoway payments client")
        assert keystore["active"][1].startswith("false, then true")
        (profile,) = fields(plan, "creates", "profile")
        assert profile["keystore"] == (None, "twoway payments client (the new keystore record)")
        assert fields(plan, "changes", "message") == [
            {"use_mutual_auth": ("false", "true"), "protocol_name": ("", "mauthpay2")}
        ]
        assert len(fields(plan, "changes", "method")) == 3  # get, post, delete
        assert plan.third_party is not None and plan.third_party.prove_first
        assert writes(srv) == [] and srv.dump() == before


def test_taking_over_a_live_message_is_refused_naming_what_it_uses(tmp_path: Path) -> None:
    with sandbox_registry(live_payments=True) as (srv, config, instances):
        before = srv.dump()
        plan = plan_job(job(), config, instances, state_dir=tmp_path)
        assert not plan.ready
        (refusal,) = plan.refusals
        assert refusal.error == "TakeOverRefused"
        assert LIVE_PROTOCOL in refusal.message and "Payments API keystore" in refusal.message
        # with replace, the same job is ready and says what moves from where to where
        replacing = plan_job(job(replace=True), config, instances, state_dir=tmp_path)
        assert replacing.ready, replacing.refusals
        assert fields(replacing, "changes", "message") == [
            {"protocol_name": (LIVE_PROTOCOL, "mauthpay2")}
        ]
        assert any("keeps it until the new keystore is proven" in n for n in replacing.notes)
        assert writes(srv) == [] and srv.dump() == before


def test_every_reason_is_listed_not_only_the_first(tmp_path: Path) -> None:
    with sandbox_registry(live_payments=True) as (srv, config, instances):
        srv.add_rest_message("OAuth API", "https://partner.example/api")
        oauth = srv.store.find("sys_rest_message", "name", "OAuth API")[0]["sys_id"]
        srv.store.update("sys_rest_message", oauth, {"authentication_type": "oauth2"}, "admin")
        request = job(
            target={"kind": "rest", "name": "OAuth API"},
            ca={"profile": "corp"},
            keystore={"record_name": "Payments API keystore", "alias": "twoway"},
            protocol_profile={"name": LIVE_PROTOCOL, "port": 443},
        )
        plan = plan_job(request, config, instances, state_dir=tmp_path)
        messages = " | ".join(r.message for r in plan.refusals)
        assert not plan.ready and len(plan.refusals) == 5, messages
        assert "ca.profile: no CA profile 'corp'" in messages
        assert "keystore.record_name: a certificate record named" in messages
        assert f"protocol profile {LIVE_PROTOCOL!r} exists" in messages
        assert "uses OAuth 2.0" in messages
        assert "https://partner.example/api does not answer from twoway" in messages
        assert writes(srv) == []


def test_a_request_that_does_not_validate_lists_each_field(tmp_path: Path) -> None:
    with sandbox_registry() as (srv, config, instances):
        request = job(subject={}, key={"type": "rsa1024"})
        plan = plan_job(request, config, instances, state_dir=tmp_path)
        assert not plan.ready
        assert sorted(r.message.split(":")[0] for r in plan.refusals) == ["key.type", "subject.cn"]
        assert srv.request_log == []  # the instance is not even asked


def test_an_unknown_target_is_refused(tmp_path: Path) -> None:
    with sandbox_registry() as (srv, config, instances):
        request = job(target={"kind": "rest", "name": "No Such API"})
        plan = plan_job(request, config, instances, state_dir=tmp_path)
        assert [r.message.split(":")[0] for r in plan.refusals] == ["target.name"]
        assert plan.changes == () and writes(srv) == []


def test_rotating_the_profile_in_use_shows_its_keystore_before_and_after(tmp_path: Path) -> None:
    with sandbox_registry(live_payments=True) as (srv, config, instances):
        request = job(protocol_profile={"name": LIVE_PROTOCOL, "port": 443}, rotate=True)
        plan = plan_job(request, config, instances, state_dir=tmp_path)
        assert plan.ready, plan.refusals
        (profile,) = [r for r in plan.changes if r.what == "profile"]
        assert profile.name == LIVE_PROTOCOL and "4 record(s)" in profile.note
        assert {f.field: (f.before, f.after) for f in profile.fields} == {
            "keystore": (
                "Payments API keystore",
                "twoway payments client (the new keystore record)",
            )
        }
        # the message and its methods already use that profile: reused as they are
        assert {r.what for r in plan.reuses} == {"message", "method"}
        assert writes(srv) == []


def test_a_fetched_server_certificate_is_looked_up_by_its_pin(tmp_path: Path) -> None:
    with sandbox_registry() as (srv, config, instances):
        pin = "ab" * 32
        fetch = {"fetch": {"host": "partner.example", "port": 443, "sha256": pin}}
        plan = plan_job(job(server_certificate=fetch), config, instances, state_dir=tmp_path)
        assert [r.message.split(":")[0] for r in plan.refusals] == ["server_certificate.fetch"]
        (trust,) = [r for r in plan.creates if r.what == "trust"]
        assert trust.note == f"no record holds SHA-256 {pin}"
        assert writes(srv) == []


def test_an_instance_that_refuses_the_user_points_to_doctor(tmp_path: Path) -> None:
    with sandbox_registry(integration_roles=("web_service_admin",)) as (srv, config, instances):
        plan = plan_job(job(), config, instances, state_dir=tmp_path)
        assert [r.error for r in plan.refusals] == ["ServiceNowRejected"]
        assert any("twoway doctor --instance sandbox" in note for note in plan.notes)
        assert writes(srv) == []


def test_an_endpoint_twoway_cannot_reach_is_not_ready_with_prove_first(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"https://127.0.0.1:{port}/api"
    with sandbox_registry(seed_endpoint=endpoint) as (srv, config, instances):
        plan = plan_job(job(), config, instances, state_dir=tmp_path)
        assert not plan.ready
        (refusal,) = plan.refusals
        assert refusal.error == "VerificationFailed" and endpoint in refusal.message
        assert "prove_first" in refusal.message + refusal.hint
        unproven = plan_job(
            job(enable={"prove_first": False}), config, instances, state_dir=tmp_path
        )
        assert unproven.ready, unproven.refusals
        assert writes(srv) == []


def test_a_message_on_the_profile_through_its_scheme_is_left_as_it_is(tmp_path: Path) -> None:
    """``mauthpay2://host/api`` is https to host on the profile's port, through the job's
    profile: its rows need no change, and the endpoint answers on that port."""
    from ops.dev.thirdparty import ThirdPartyServer

    with ThirdPartyServer([]) as partner:
        endpoint = f"mauthpay2://{partner.hostnames[0]}/api"  # no port: the profile's
        with sandbox_registry(seed_endpoint=endpoint) as (srv, config, instances):
            request = job(protocol_profile={"name": "mauthpay2", "port": partner.port})
            plan = plan_job(request, config, instances, state_dir=tmp_path)
            assert plan.ready, plan.refusals
            assert [r.what for r in plan.changes] == []
            rows = [r for r in plan.reuses if r.what in ("message", "method")]
            assert len(rows) == 4 and all("scheme" in r.note for r in rows)
            assert writes(srv) == []
