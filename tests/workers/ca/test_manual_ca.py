"""The manual CA asks nobody: one request id per job, however often it is asked."""

from __future__ import annotations

from workers.ca import CaAdapter, ManualCa, Pending


def test_submitting_twice_names_the_same_request_and_polling_keeps_waiting() -> None:
    ca = ManualCa("manual")
    assert isinstance(ca, CaAdapter) and not ca.synchronous and not ca.pollable
    first = ca.submit(b"csr", request_key="0123")
    assert first == ca.submit(b"csr", request_key="0123") == Pending("manual-0123")
    assert ca.poll("manual-0123") == Pending("manual-0123")
