"""``twoway plan JOB.json``: exit 0 ready, 4 refused, 2 usage; text and ``--json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w

from ops.cli import main
from ops.commands.readiness import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from ops.sandbox import SandboxServer
from tests.workers.levers.plan_fixtures import job, sandbox_registry, writes
from workers.config import PipelineConfig


def use(config: PipelineConfig, srv: SandboxServer, tmp: Path, mp: pytest.MonkeyPatch) -> None:
    path = tmp / "pipeline.toml"
    path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude_none=True)))
    mp.setenv("TWOWAY_CONFIG", str(path))
    mp.setenv("TWOWAY_STATE_DIR", str(tmp / "state"))
    mp.setenv("PLAN_TEST_USER", srv.username)
    mp.setenv("PLAN_TEST_PASSWORD", srv.password)


def test_plan_exits_by_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with sandbox_registry(live_payments=True) as (srv, config, _):
        use(config, srv, tmp_path, monkeypatch)
        refused, ready = tmp_path / "refused.json", tmp_path / "ready.json"
        refused.write_text(json.dumps(job()))
        ready.write_text(json.dumps(job(replace=True)))
        assert main(["plan", str(refused)]) == EXIT_REFUSED
        text = capsys.readouterr().out
        assert "REFUSED (1 reason(s))" in text and "[TakeOverRefused]" in text
        assert main(["plan", str(ready), "--json"]) == EXIT_OK
        answer = json.loads(capsys.readouterr().out)
        assert answer["ready"] is True and answer["refusals"] == []
        assert {r["what"] for r in answer["changes"]} == {"message", "method"}
        assert writes(srv) == []


def test_plan_of_a_missing_or_broken_file_is_a_usage_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["plan", str(tmp_path / "missing.json")]) == EXIT_USAGE
    assert main(["plan", str(broken)]) == EXIT_USAGE
