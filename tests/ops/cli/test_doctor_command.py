"""``twoway doctor --instance NAME``: a table of checks; exit 0 when none fails, else 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w

from ops.cli.client import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from ops.cli.main import main
from ops.dev.sandbox import SandboxServer
from tests.workers.readiness.plan_fixtures import sandbox_registry, writes
from workers.config import PipelineConfig


def use(config: PipelineConfig, srv: SandboxServer, tmp: Path, mp: pytest.MonkeyPatch) -> None:
    """Run the local command on this configuration and the sandbox's login."""
    path = tmp / "pipeline.toml"
    path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude_none=True)))
    mp.setenv("TWOWAY_CONFIG", str(path))
    mp.setenv("TWOWAY_STATE_DIR", str(tmp / "state"))
    mp.setenv("PLAN_TEST_USER", srv.username)
    mp.setenv("PLAN_TEST_PASSWORD", srv.password)


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
