"""Item 3 of issue 16: a worker's metrics port has no token, so it listens on loopback
by default and carries no per-job label (job ids, certificate serials)."""

from __future__ import annotations

import argparse
import inspect

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from ops.cli.commands import local
from ops.rabbitmq.broker_metrics import WithoutPerJobLabels, serve_worker_metrics


def test_the_worker_metrics_port_listens_on_loopback_by_default() -> None:
    """worker metrics port: loopback unless told otherwise"""
    assert inspect.signature(serve_worker_metrics).parameters["host"].default == "127.0.0.1"
    parser = argparse.ArgumentParser()
    local.register(parser.add_subparsers())
    args = parser.parse_args(["worker", "--metrics-port", "9191"])
    assert args.metrics_host == "127.0.0.1"


def test_the_worker_metrics_port_names_no_job_and_no_serial() -> None:
    """worker metrics port: no job ids or certificate serials"""
    registry = CollectorRegistry()
    per_job = Gauge("notafter", "x", ["job_id", "instance", "serial"], registry=registry)
    per_job.labels("f" * 32, "sandbox", "abc123").set(1)
    Gauge("jobs", "x", ["state"], registry=registry).labels("succeeded").set(3)
    public = CollectorRegistry(auto_describe=False)
    public.register(WithoutPerJobLabels(registry))
    text = generate_latest(public).decode()
    assert 'jobs{state="succeeded"} 3.0' in text
    assert "f" * 32 not in text and "abc123" not in text
