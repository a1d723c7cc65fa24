"""What the ACME adapter's tests share: a real pebble per module, a fresh store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acme_servers import Pebble
from workers.sealing import Sealer
from workers.store import Store


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    server = Pebble(tmp_path_factory.mktemp("pebble")).start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path}/s.sqlite3", Sealer([Sealer.generate_key()]))
    yield opened
    opened.close()
