"""Fixtures for the runtime's tests: a stub-broker runtime with a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.harness import Harness


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.worker.start()
    yield harness
    harness.worker.stop()
    harness.store.close()
