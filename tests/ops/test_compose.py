"""compose.yaml passes ``docker compose config`` (the plugin, or docker-compose 1.29+)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "RABBITMQ_PASSWORD": "rabbit-pw",
    "POSTGRES_PASSWORD": "postgres-pw",
    "TWOWAY_MASTER_KEY": "a-fernet-key",
    "TWOWAY_SANDBOX_PASSWORD": "sandbox-pw",
}


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker-compose"):
        command = ["docker-compose", *args]
    else:  # the compose plugin
        command = ["docker", "compose", *args]
    clean = {
        k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("COMPOSE")
    }
    return subprocess.run(
        command, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def rendered() -> str:
    done = compose("config", env=SECRETS)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_part_of_a_deployment_is_a_service() -> None:
    done = compose("config", "--services", env=SECRETS)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {
        "rabbitmq-definitions",
        "rabbitmq",
        "postgres",
        "gateway",
        "worker",
        "intake",
        "relay",
        "poller",
        "scheduler",  # renewals run in this deployment too
        "sandbox",
    }


def test_worker_metrics_are_scrapable_from_another_container(rendered: str) -> None:
    worker = rendered.split("worker:", 1)[1].split("\n  intake:", 1)[0]
    assert "--metrics-host" in worker and "0.0.0.0" in worker  # noqa: S104 - the point


def test_secrets_come_from_the_environment(rendered: str) -> None:
    assert "amqp://twoway:rabbit-pw@rabbitmq:5672/twoway" in rendered
    assert "postgresql://twoway:postgres-pw@postgres:5432/twoway" in rendered
    text = (ROOT / "compose.yaml").read_text()
    assert "rabbit-pw" not in text and "postgres-pw" not in text


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_is_refused_by_name(missing: str) -> None:
    done = compose("config", env={k: v for k, v in SECRETS.items() if k != missing})
    assert done.returncode != 0 and missing in done.stderr


def test_rabbitmq_imports_the_definitions_the_one_shot_writes(rendered: str) -> None:
    conf = (ROOT / "ops/rabbitmq/rabbitmq.conf").read_text()
    [loads] = [line for line in conf.splitlines() if line.startswith("load_definitions")]
    target = loads.split("=", 1)[1].strip()  # /etc/twoway-rabbitmq/definitions.json
    assert f"rabbitmq-definitions:{Path(target).parent}:ro" in rendered
    assert "/var/lib/twoway-broker/definitions.json" in rendered
    assert "rabbitmq-definitions:/var/lib/twoway-broker:rw" in rendered
    assert "replicas: 2" in rendered  # workers scale
