"""``twoway conformance --instance NAME``: a report to attach to a bug; exit 0 when the
instance agrees with what twoway assumes, else 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.cli.client import EXIT_OK, EXIT_REFUSED
from ops.cli.main import main
from ops.dev.sandbox import SandboxFacts
from tests.e2e.test_alternative_facts import OTHER
from tests.ops.cli.test_doctor_command import use
from tests.workers.readiness.plan_fixtures import sandbox_registry, writes


@pytest.mark.parametrize(
    ("facts", "exit_code"),
    [
        (None, EXIT_OK),
        (OTHER, EXIT_OK),
        (SandboxFacts(pem_format=("pem", "PEM format")), EXIT_REFUSED),
    ],
    ids=["default", "alternative-facts", "disagreeing"],
)
def test_conformance_prints_a_report_and_exits_by_agreement(
    facts: SandboxFacts | None,
    exit_code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sandbox_registry(facts) as (srv, config, _):
        use(config, srv, tmp_path, monkeypatch)
        assert main(["conformance", "--instance", "sandbox"]) == exit_code
        text = capsys.readouterr().out
        assert text.startswith("conformance: instance 'sandbox'")
        assert "read-only; the facts and their sources: docs/servicenow.md" in text
        assert ("FAIL" in text) is (exit_code == EXIT_REFUSED)
        assert writes(srv) == []
        assert main(["conformance", "--instance", "sandbox", "--scratch", "--json"]) == exit_code
        answer = json.loads(capsys.readouterr().out)
        assert answer["ok"] is (exit_code == EXIT_OK) and answer["scratch"] is True
        assert srv.password not in text
