"""`twoway rotate-master-key` re-encrypts everything, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from messages import JobRequest
from tests.factories import good
from workers.sealing import SealBroken, Sealer
from workers.store import Store


def rotate(store_url: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TWOWAY_DATABASE_URL": store_url, "TWOWAY_MASTER_KEY": keys}
    return subprocess.run(
        [sys.executable, "-m", "ops", "rotate-master-key", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rotation_moves_every_secret_to_the_new_key(store_url: str) -> None:
    old, new = Sealer.generate_key(), Sealer.generate_key()
    store = Store(store_url, Sealer([old]))
    job, _ = store.create_job(JobRequest.model_validate(good()))
    store.artifacts.put_all(job.id, {"private_key": b"key material"}, secret=True)
    store.artifacts.put_all(job.id, {"keystore_password": b"pw-0123456789"}, secret=True)
    store.artifacts.put_all(job.id, {"csr": b"not secret"})
    done = rotate(store_url, f"{new},{old}")
    assert done.returncode == 0, done.stderr
    assert '"resealed": 2' in done.stdout
    fresh = Store(store_url, Sealer([new]))
    assert fresh.artifacts.get(job.id, "private_key") == b"key material"
    assert fresh.artifacts.get(job.id, "keystore_password") == b"pw-0123456789"
    with pytest.raises(SealBroken):
        Store(store_url, Sealer([old])).artifacts.get(job.id, "private_key")


def test_rotation_refuses_a_single_key(store_url: str) -> None:
    done = rotate(store_url, Sealer.generate_key())
    assert done.returncode == 2 and "TWOWAY_MASTER_KEY=NEW,OLD" in done.stderr
