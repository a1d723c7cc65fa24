"""What the gateway's routes reach: the assembled pipeline and the gateway's settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from ops.gateway.throttle import Throttle
from workers.app import App

__all__ = ["GatewayState", "state_of"]


@dataclass
class GatewayState:
    app: App
    max_body_bytes: int = 1_000_000
    callback_throttle: Throttle = field(default_factory=Throttle)
    extra: dict[str, Any] = field(default_factory=dict)


def state_of(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.twoway
    return state
