"""What ``doctor`` reads where it runs: the local configuration and the instance logins
(it needs the instance's credentials, so it is local, like ``db``). Exit codes are the
CLI's (ops/cli/client.py): 0 nothing fails, 2 usage, 4 a check fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ops.cli.client import EXIT_OK, EXIT_REFUSED, EXIT_USAGE

if TYPE_CHECKING:
    from workers.config import PipelineConfig, Settings
    from workers.machinery.deps import InstanceRegistry

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "local_instances"]


def local_instances() -> tuple[PipelineConfig, Settings, InstanceRegistry]:
    """pipeline.toml, the settings and the instance logins of this environment."""
    from workers.config import Settings, load_config
    from workers.machinery.deps import InstanceRegistry

    config = load_config()
    return config, Settings.from_environment(), InstanceRegistry(config)
