"""A store write that loses its PostgreSQL connection midway fails clearly, as transient."""

from __future__ import annotations

import pytest

from workers.errors import StoreUnavailable, TransientError
from workers.sealing import Sealer
from workers.store import Store


def test_a_write_whose_connection_is_lost_is_store_unavailable(
    pg_schema_url: str, sealer: Sealer
) -> None:
    store = Store(pg_schema_url, sealer)
    try:
        with pytest.raises(StoreUnavailable) as lost, store._writer.begin() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")
        assert isinstance(lost.value, TransientError)  # stages retry it; the API says 503
        assert "Idempotency-Key" in lost.value.hint
        with store._writer.begin() as conn:  # the next write gets a new connection
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        store.close()
