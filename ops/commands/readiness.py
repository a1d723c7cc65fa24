"""What the read-only checks (``plan``, ``doctor``) share: their exit codes, and the local
configuration and instance logins they read (like ``status`` does, for now).

Exit codes (named, so that the CLI's exit-code table can adopt them in one place):
0 ready / nothing fails, 2 usage (a file that is missing or not JSON), 4 refused / a check
fails.
"""

from __future__ import annotations

from workers.config import PipelineConfig, Settings, load_config
from workers.machinery.deps import InstanceRegistry

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "local_instances"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REFUSED = 4


def local_instances() -> tuple[PipelineConfig, Settings, InstanceRegistry]:
    """pipeline.toml, the settings and the instance logins of this environment."""
    config = load_config()
    return config, Settings.from_environment(), InstanceRegistry(config)
