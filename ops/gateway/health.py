"""Liveness and readiness: up or down, and nothing else (it needs no token)."""

from __future__ import annotations

from dramatiq.brokers.stub import StubBroker
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ops.gateway.state import state_of
from ops.rabbitmq.reachability import BrokerProbe

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Is the gateway up, and can it reach its store and broker?")
def healthz(request: Request) -> JSONResponse:
    """``{"status": "ok"}``, or 503 ``{"status": "down", "unreachable": ["store",
    "broker"]}`` while a dependency is: job counts are in ``/metrics`` (read token), not
    here, where anyone may ask."""
    app = state_of(request).app
    unreachable = []
    try:
        app.store.ping()
    except Exception:  # noqa: BLE001 - any failure to reach the store is "down"
        unreachable.append("store")
    probe = _probe_of(request)
    if probe is not None and not probe.up():
        unreachable.append("broker")
    if unreachable:
        return JSONResponse({"status": "down", "unreachable": unreachable}, status_code=503)
    return JSONResponse({"status": "ok"})


def _probe_of(request: Request) -> BrokerProbe | None:
    """The app's broker probe (None on the in-process stub broker, which cannot be down)."""
    app = state_of(request).app
    if isinstance(app.broker, StubBroker):
        return None
    probe = getattr(request.app.state, "broker_probe", None)
    if probe is None:
        probe = request.app.state.broker_probe = BrokerProbe(app.settings.broker_url)
    return probe if isinstance(probe, BrokerProbe) else None
