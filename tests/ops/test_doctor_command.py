"""``twoway doctor --instance NAME``: a table of checks; exit 0 when none fails, else 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ops.cli import main
from ops.commands.readiness import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from tests.ops.test_plan_command import use
from tests.workers.levers.plan_fixtures import sandbox_registry, writes


@pytest.mark.parametrize(
    ("roles", "exit_code"), [(("admin",), EXIT_OK), (("web_service_admin",), EXIT_REFUSED)]
)
def test_doctor_exits_by_what_failed(
    roles: tuple[str, ...],
    exit_code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sandbox_registry(integration_roles=roles) as (srv, config, _):
        use(config, srv, tmp_path, monkeypatch)
        assert main(["doctor", "--instance", "sandbox"]) == exit_code
        text = capsys.readouterr().out
        assert text.splitlines()[1].split() == ["group", "check", "status", "detail", "fix"]
        assert ("FAIL" in text) is (exit_code == EXIT_REFUSED)
        assert main(["doctor", "--instance", "sandbox", "--json"]) == exit_code
        answer = json.loads(capsys.readouterr().out)
        assert answer["ok"] is (exit_code == EXIT_OK)
        assert {c["status"] for c in answer["checks"]} <= {"pass", "fail", "unknown"}
        assert srv.password not in text and writes(srv) == []


def test_doctor_of_an_unknown_instance_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sandbox_registry() as (srv, config, _):
        use(config, srv, tmp_path, monkeypatch)
        assert main(["doctor", "--instance", "production"]) == EXIT_USAGE
