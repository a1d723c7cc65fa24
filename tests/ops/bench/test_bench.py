"""The benchmark runs its phases for real and reports what it measured (no time limits)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from messages import KeyType
from ops.bench import BenchOptions, run_bench
from ops.bench.stats import percentile


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile(values, 99) == 99 and percentile([], 95) == 0.0


def test_a_small_bench_runs_every_phase() -> None:
    result = run_bench(
        BenchOptions(
            jobs=3,
            key=KeyType.EC256,
            workers=1,
            threads=2,
            runbook_jobs=1,
            paused=3,
            gateway_processes=2,
        )
    )
    assert result["pipeline_succeeded"] == 3 and result["pipeline_failures"] == {}
    for key in (
        "pipeline_jobs_per_s",
        "floor_jobs_per_s",
        "pipeline_to_floor",
        "pipeline_cpu_s_per_job",
        "runbook_cpu_s_per_job",
        "runbook_to_pipeline_cpu",
        "worker_peak_rss_mb",
    ):
        assert result[key] > 0, key
    # half the floor ran before the pipeline, half after: both measured
    assert [rate > 0 for rate in result["floor_halves_jobs_per_s"]] == [True, True]
    assert set(result["stage_p95_ms"]) == {
        "generate",
        "csr",
        "wait-for-ca",
        "import-chain",
        "upload-keystore",
        "register-trust",
        "create-profile",
        "enable",
        "verify",
    }
    assert result["paused_broker_messages"] == 0  # a paused job holds no message
    assert result["paused_resumed"] == 3  # through a gateway of two processes
    assert result["paused_gateway_processes"] == 2


@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        ("--database-url", "mysql://bench:s3cr3t-pw@db/empty", "sqlite:///PATH or postgresql://"),
        ("--gateway-processes", "0", "a whole number of processes from 1 to 64"),
    ],
)
def test_bad_bench_arguments_are_refused_before_anything_starts(
    argument: str, value: str, expected: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops", "bench", argument, value],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"argument {argument}: {expected}" in done.stderr
    assert "s3cr3t-pw" not in done.stderr  # a URL's password is not repeated
