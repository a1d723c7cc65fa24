"""``twoway plan JOB.json`` asks the gateway (``POST /v1/plan``): exit 0 ready, 4 refused,
2 usage; text and ``--json``; nothing written to the instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.cli.client import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from ops.cli.main import main
from ops.dev.stack import RunningStack, Stack, StackOptions
from tests.workers.readiness.plan_fixtures import writes


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with Stack(StackOptions(broker="stub")) as running:
        running.sandbox.add_live_rest_message(
            "Live Plan API", running.third_party.url, protocol="mauthliveplan"
        )
        yield running


def remote(stack: RunningStack) -> list[str]:
    return ["--url", stack.gateway.url, "--token", stack.token]


def test_plan_exits_by_verdict(
    stack: RunningStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = stack.example_job(
        target={"kind": "rest", "name": "Live Plan API"},
        protocol_profile={"name": "mauthplannew", "port": stack.third_party.port},
    )
    refused, ready = tmp_path / "refused.json", tmp_path / "ready.json"
    refused.write_text(json.dumps(job))
    ready.write_text(json.dumps({**job, "replace": True}))
    before = len(writes(stack.sandbox))
    assert main(["plan", str(refused), *remote(stack)]) == EXIT_REFUSED
    text = capsys.readouterr().out
    assert "REFUSED (1 reason(s))" in text and "[TakeOverRefused]" in text
    assert "protocol profile 'mauthliveplan'" in text
    assert main(["plan", str(ready), "--json", *remote(stack)]) == EXIT_OK
    answer = json.loads(capsys.readouterr().out)
    assert answer["ready"] is True and answer["refusals"] == []
    assert {r["what"] for r in answer["changes"]} == {"message", "method"}
    assert len(writes(stack.sandbox)) == before


def test_plan_of_a_missing_or_broken_file_is_a_usage_error(
    stack: RunningStack, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["plan", str(tmp_path / "missing.json"), *remote(stack)]) == EXIT_USAGE
    assert main(["plan", str(broken), *remote(stack)]) == EXIT_USAGE
