"""pipeline.toml: strict models, and routing that forms one chain of the nine stages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from messages import Stage
from workers.config import PipelineConfig, Settings, load_config
from workers.errors import ConfigError
from workers.machinery.pipeline import build_routes

ROOT = Path(__file__).resolve().parents[2]


def raw_config() -> dict[str, object]:
    return tomllib.loads((ROOT / "pipeline.toml").read_text())


def write(tmp_path: Path, raw: dict[str, object]) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def test_the_shipped_pipeline_is_the_nine_stages_in_order() -> None:
    routes = build_routes(load_config(ROOT / "pipeline.toml"))
    assert routes.order == list(Stage)
    assert [r.queue for r in routes] == [f"twoway.{s.value}" for s in Stage]


def test_every_output_has_exactly_one_consumer_and_every_stage_exists() -> None:
    config = load_config(ROOT / "pipeline.toml")
    consumed = [stage.consumes for stage in config.stages]
    produced = [stage.produces for stage in config.stages]
    assert sorted(consumed) == sorted(set(consumed))
    for output in produced[:-1]:
        assert consumed.count(output) == 1
    assert "JobVerified" not in consumed
    routes = build_routes(config)
    assert routes[Stage.VERIFY].next_stage is None
    for before, after in zip(routes.order, routes.order[1:], strict=False):
        assert routes[before].next_stage == after


def test_the_installed_default_is_the_repository_file() -> None:
    assert load_config() == load_config(ROOT / "pipeline.toml")


def test_unknown_keys_are_refused_with_their_path(tmp_path: Path) -> None:
    raw = raw_config()
    raw["broker"] = {**raw["broker"], "colour": "blue"}  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=r"broker\.colour"):
        load_config(write(tmp_path, raw))


def test_two_consumers_of_one_message_are_refused(tmp_path: Path) -> None:
    raw = raw_config()
    stages = raw["stages"]
    assert isinstance(stages, list)
    stages[1]["consumes"] = "JobAccepted"
    with pytest.raises(ConfigError, match="JobAccepted must have exactly one consuming stage"):
        build_routes(load_config(write(tmp_path, raw)))


def test_a_missing_stage_is_refused(tmp_path: Path) -> None:
    raw = raw_config()
    stages = raw["stages"]
    assert isinstance(stages, list)
    raw["stages"] = stages[:-1]
    with pytest.raises(ConfigError, match="missing \\['verify'\\]"):
        load_config(write(tmp_path, raw))


def test_an_unknown_message_type_is_refused(tmp_path: Path) -> None:
    raw = raw_config()
    stages = raw["stages"]
    assert isinstance(stages, list)
    stages[0]["produces"] = "KeyMinted"
    with pytest.raises(ConfigError, match="'KeyMinted' is not a stage message"):
        build_routes(load_config(write(tmp_path, raw)))


def test_queue_prefix_comes_from_the_environment() -> None:
    config = load_config(ROOT / "pipeline.toml", environ={"TWOWAY_QUEUE_PREFIX": "ci-42"})
    assert build_routes(config).first.queue == "ci-42.generate"


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text("[broker\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_credentials_come_from_the_named_variables() -> None:
    profile = load_config(ROOT / "pipeline.toml").instance("sandbox")
    creds = profile.credentials(
        {"TWOWAY_SANDBOX_USERNAME": "admin", "TWOWAY_SANDBOX_PASSWORD": "pw-123456"}
    )
    assert creds.username == "admin" and creds.password.get_secret_value() == "pw-123456"
    assert "pw-123456" not in repr(creds)
    with pytest.raises(ConfigError, match="TWOWAY_SANDBOX_PASSWORD is not set"):
        profile.credentials({"TWOWAY_SANDBOX_USERNAME": "admin"})


def test_settings_from_environment() -> None:
    settings = Settings.from_environment({"TWOWAY_DATABASE_URL": "postgresql://h/db"})
    assert settings.store_url() == "postgresql://h/db"
    assert Settings.from_environment({}).store_url().startswith("sqlite:///")


def test_unknown_instance_and_ca_profiles_name_the_known_ones() -> None:
    config: PipelineConfig = load_config(ROOT / "pipeline.toml")
    with pytest.raises(ConfigError, match="known: \\['sandbox'\\]"):
        config.instance("prod")
    with pytest.raises(ConfigError, match="known: \\['local', 'manual'\\]"):
        config.ca_profile("corp")


def test_an_instance_url_can_come_from_the_environment() -> None:
    env = {"TWOWAY_INSTANCE_SANDBOX_URL": "http://sandbox:8080"}
    assert load_config(ROOT / "pipeline.toml", environ=env).instance("sandbox").url == (
        "http://sandbox:8080"
    )
    with pytest.raises(ConfigError, match="TWOWAY_INSTANCE_SANDBOX_URL"):
        load_config(ROOT / "pipeline.toml", environ={"TWOWAY_INSTANCE_SANDBOX_URL": "ftp://x"})
