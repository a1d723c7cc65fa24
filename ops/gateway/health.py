"""Liveness and readiness: up or down, and nothing else (it needs no token)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ops.gateway.state import state_of

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Is the gateway up, and can it reach its store?")
def healthz(request: Request) -> JSONResponse:
    """``{"status": "ok"}`` or 503 ``{"status": "down"}``: job counts are in ``/metrics``
    (read token), not here, where anyone may ask."""
    try:
        state_of(request).app.store.ping()
    except Exception:  # noqa: BLE001 - any failure to reach the store is "down"
        return JSONResponse({"status": "down"}, status_code=503)
    return JSONResponse({"status": "ok"})
