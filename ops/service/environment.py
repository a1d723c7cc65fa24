"""Opening the deployment's store and pipeline from the environment, for operator commands."""

from __future__ import annotations

from pathlib import Path

from workers.app import App, build_app
from workers.config import Settings, load_config
from workers.errors import ConfigError
from workers.sealing import Sealer
from workers.store import Store

__all__ = ["open_app", "open_store", "require_store_directory"]


def open_store() -> Store:
    settings = Settings.from_environment()
    if settings.database_url is None:  # the default SQLite file lives in the state dir
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    require_store_directory(settings.store_url())
    return Store(settings.store_url(), Sealer.from_environment())


def require_store_directory(url: str) -> None:
    """A SQLite store's directory must exist: ConfigError naming it, not a driver's traceback."""
    if not url.startswith("sqlite:///"):
        return
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    if str(path) in ("", ":memory:") or path.parent.is_dir():
        return
    raise ConfigError(
        f"the store {path} cannot be opened: its directory {path.parent} does not exist",
        hint=f"create it (mkdir -p {path.parent}), or set TWOWAY_DATABASE_URL to the store",
    )


def open_app() -> App:
    settings = Settings.from_environment()
    if settings.database_url is None:  # the default SQLite file lives in the state dir
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    require_store_directory(settings.store_url())
    return build_app(load_config(), settings, broker="rabbitmq")
