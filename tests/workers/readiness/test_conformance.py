"""``conformance``: the kit agrees with the default and the alternative-facts sandboxes (so
the sandbox and the kit cannot drift apart), says where an instance disagrees, and its
scratch writes leave nothing behind, even when interrupted."""

from __future__ import annotations

import pytest

from ops.dev.sandbox import SandboxFacts, SandboxServer
from tests.e2e.test_alternative_facts import OTHER
from tests.workers.readiness.plan_fixtures import sandbox_registry, writes
from workers.readiness.conformance import ConformanceReport, conformance


def run(registry: tuple[object, ...], **options: object) -> ConformanceReport:
    srv, config, instances = registry
    assert isinstance(srv, SandboxServer)
    environ = {"PLAN_TEST_USER": srv.username, "PLAN_TEST_PASSWORD": srv.password}
    return conformance("sandbox", config, instances, environ=environ, **options)  # type: ignore[arg-type]


def scratch_left(srv: SandboxServer) -> list[str]:
    dump = srv.dump()
    names = [c["name"] for c in dump["sys_certificate"] if c["name"].startswith("twoway-conf")]
    protocols = [p["protocol"] for p in dump["sys_protocol_profile"]]
    attachments = [a["file_name"] for a in dump["sys_attachment"]]
    return names + [p for p in protocols if p.startswith("twowayconf")] + attachments


@pytest.mark.parametrize("facts", [None, OTHER], ids=["default", "alternative-facts"])
def test_the_kit_agrees_with_both_sandboxes_read_only_and_with_scratch(
    facts: SandboxFacts | None,
) -> None:
    with sandbox_registry(facts) as registry:
        srv = registry[0]
        report = run(registry)
        assert report.ok, [c for c in report.checks if c.status == "fail"]
        assert writes(srv) == []  # read-only by default
        scratch = run(registry, scratch=True)
        assert scratch.ok, [c for c in scratch.checks if c.status == "fail"]
        names = {c.name for c in scratch.checks}
        assert "key_store_password write-only" in names
        assert "protocol profile keystore reference" in names
        assert scratch_left(srv) == []


def test_an_interrupted_scratch_run_leaves_nothing_and_a_killed_one_is_swept() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    with sandbox_registry() as registry:
        srv = registry[0]
        with pytest.raises(KeyboardInterrupt):
            run(registry, scratch=True, after_create=interrupt)
        assert scratch_left(srv) == []
        # a run killed outright (no finally) left a record: the next run sweeps it
        srv.store.insert("sys_certificate", {"name": "twoway-conformance-dead"}, "admin")
        report = run(registry, scratch=True)
        swept = [c for c in report.checks if c.name == "left-overs of earlier runs swept"]
        assert swept[0].detail == "1 deleted" and scratch_left(srv) == []


def test_an_instance_that_disagrees_fails_naming_what() -> None:
    renamed = SandboxFacts(keystore_type=("key_store", "JKS"))  # no 'Java Key Store' label
    with sandbox_registry(renamed) as registry:
        report = run(registry)
        assert not report.ok
        failed = [c.name for c in report.checks if c.status == "fail"]
        assert "sys_certificate.type 'Java Key Store'" in failed
