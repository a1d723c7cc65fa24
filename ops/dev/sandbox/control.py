"""The sandbox's own control plane under ``/sandbox/`` (NOT part of the ServiceNow API).

For tests and demos that run the sandbox in another process. The integration user's
Basic auth is required (whatever its roles).

    GET    /sandbox/dump                 every table's stored rows
    GET    /sandbox/broken_keystores     sys_ids of active keystores that do not load
    PUT    /sandbox/faults               a FaultPlan as JSON
    DELETE /sandbox/faults               no more faults
    GET    /sandbox/faults               the plan and the faults served so far
    PUT    /sandbox/pacing               a Pacing as JSON (latency, concurrency, overflow)
    GET    /sandbox/pacing               the pacing, calls in flight and the most ever
    POST   /sandbox/rest_messages        {"name", "endpoint", "methods"} -> {"sys_id"}
    PUT    /sandbox/properties/{name}    {"value"} -> {"sys_id"}
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from ops.dev.sandbox.auth import Auth
from ops.dev.sandbox.faults import FaultInjector, FaultPlan
from ops.dev.sandbox.pacing import Pacer, Pacing
from ops.dev.sandbox.rules import broken_keystores
from ops.dev.sandbox.seed import add_rest_message, set_property
from ops.dev.sandbox.store import Refusal, SandboxStore
from ops.dev.sandbox.wire import Request, Response, json_body

__all__ = ["Control"]


def _json(request: Request) -> dict[str, object]:
    try:
        data = json.loads(request.body or b"{}")
    except json.JSONDecodeError:
        raise Refusal(400, "Invalid JSON", "") from None
    if not isinstance(data, dict):
        raise Refusal(400, "Expected a JSON object", "")
    return data


class Control:
    """Handles ``/sandbox/*`` calls for one sandbox."""

    def __init__(
        self, store: SandboxStore, auth: Auth, faults: FaultInjector, pacer: Pacer | None = None
    ) -> None:
        self.store, self.auth, self.faults = store, auth, faults
        self.pacer = pacer or Pacer()

    def __call__(self, request: Request) -> Response:
        user = self.auth.authenticate(request.header("Authorization"))
        if user is None or user.username != self.auth.admin.username:
            return json_body(401, {"error": "the integration user's Basic auth is required"})
        route = (request.method, request.path.rstrip("/"))
        if route == ("GET", "/sandbox/dump"):
            return json_body(200, self.store.dump())
        if route == ("GET", "/sandbox/broken_keystores"):
            return json_body(200, broken_keystores(self.store))
        if request.path.startswith("/sandbox/faults"):
            return self._faults(request)
        if route == ("PUT", "/sandbox/pacing"):
            try:
                self.pacer.set(Pacing.model_validate(_json(request)))
            except ValidationError as exc:
                return json_body(400, {"error": str(exc)})
        if request.path.rstrip("/") == "/sandbox/pacing" and request.method in ("GET", "PUT"):
            return json_body(200, self.pacer.stats())
        if route == ("POST", "/sandbox/rest_messages"):
            return self._rest_message(request)
        if request.method == "PUT" and request.path.startswith("/sandbox/properties/"):
            name = request.path.removeprefix("/sandbox/properties/")
            value = str(_json(request).get("value", ""))
            return json_body(200, {"sys_id": set_property(self.store, name, value)})
        return json_body(404, {"error": f"no control route {request.method} {request.path}"})

    def _faults(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                self.faults.set(FaultPlan.model_validate(_json(request)))
            except ValidationError as exc:
                return json_body(400, {"error": str(exc)})
        elif request.method == "DELETE":
            self.faults.clear()
        elif request.method != "GET":
            return json_body(405, {"error": "use GET, PUT or DELETE"})
        plan = self.faults.plan.model_dump(mode="json")
        return json_body(200, {"plan": plan, "served": dict(self.faults.served)})

    def _rest_message(self, request: Request) -> Response:
        data = _json(request)
        name, endpoint = data.get("name"), data.get("endpoint")
        methods = data.get("methods", ["get", "post", "delete"])
        if (
            not isinstance(name, str)
            or not isinstance(endpoint, str)
            or not isinstance(methods, list)
        ):
            return json_body(400, {"error": "name and endpoint (strings) and methods (list)"})
        sys_id = add_rest_message(self.store, name, endpoint, [str(m) for m in methods])
        return json_body(201, {"sys_id": sys_id})
