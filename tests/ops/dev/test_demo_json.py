"""``twoway demo --json``: progress on stderr, one JSON result on stdout, and a word that
nothing was kept when there is no --out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_json_prints_one_result_and_says_nothing_was_kept() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops", "demo", "--json", "--key", "ec256"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert result["state"] == "succeeded" and result["out"] is None and result["files"] == []
    assert "[  done]" in done.stderr and "nothing was kept" in done.stderr


@pytest.mark.slow
def test_demo_estate_shows_the_inventory_after_the_job() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops", "demo", "--estate", "--key", "ec256"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[  done]" in done.stdout and "KEYSTORES AND TRUST STORE CERTS" in done.stdout
    assert "public_ca_client_certificate" in done.stdout
