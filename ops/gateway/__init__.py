"""The HTTP gateway (FastAPI), versioned under /v1.

``ops.gateway.app.create_gateway(app)`` assembles the routers listed in ``ROUTERS``; each
router module owns one surface (jobs, CA callbacks, ...) and reaches the pipeline through
``request.app.state.twoway`` (an :class:`ops.gateway.state.GatewayState`).

The package itself imports nothing: the CLI reads :mod:`ops.gateway.status` (which error
answers with which status) without starting FastAPI.
"""

__all__: list[str] = []
