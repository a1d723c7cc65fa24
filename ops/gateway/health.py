"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from .state import state_of

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Is the gateway up, and can it reach its store?")
def healthz(request: Request) -> dict[str, Any]:
    counts = state_of(request).app.store.count_jobs()
    return {"status": "ok", "jobs": counts}
