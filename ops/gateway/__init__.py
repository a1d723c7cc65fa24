"""The HTTP gateway (FastAPI), versioned under /v1.

``create_gateway(app)`` assembles the routers listed in ``ROUTERS``; each router module
owns one surface (jobs, CA callbacks, ...) and reaches the pipeline through
``request.app.state.twoway`` (an :class:`ops.gateway.state.GatewayState`).
"""

from ops.gateway.app import create_gateway
from ops.gateway.state import GatewayState

__all__ = ["GatewayState", "create_gateway"]
