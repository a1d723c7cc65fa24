"""Opening the deployment's store and pipeline from the environment, for operator commands."""

from __future__ import annotations

from workers.app import App, build_app
from workers.config import Settings, load_config
from workers.sealing import Sealer
from workers.store import Store

__all__ = ["open_app", "open_store"]


def open_store() -> Store:
    settings = Settings.from_environment()
    if settings.database_url is None:  # the default SQLite file lives in the state dir
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Store(settings.store_url(), Sealer.from_environment())


def open_app() -> App:
    return build_app(load_config(), Settings.from_environment(), broker="rabbitmq")
