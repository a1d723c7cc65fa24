"""The sandbox ServiceNow instance: the one thing twoway emulates.

It follows servicenow-api.md: the Table API and the Attachment API with the same paths,
envelopes, status codes, string-typed values, choice values, reference shapes and
attachment hashes; Basic and OAuth bearer authentication; ACLs for a user without the
admin role; the platform's business rules that matter to outbound mutual TLS (unique
certificate names, derived certificate fields, the KB1217702 keystore load check); and
injected faults (5xx, 429, slow answers, reset connections, lost answers after a write).
Every answer to a LIKELY or UNCERTAIN fact comes from one :class:`SandboxFacts`.

    from ops.dev.sandbox import SandboxServer, SandboxFacts, FaultPlan

    facts = SandboxFacts(trust_store_type=("trust_store_cert", "Trust Store Cert"))
    with SandboxServer(facts) as srv:
        srv.faults.set(FaultPlan(rate=0.3, kinds=("503", "reset"), after_write=True, seed=1))
        ...  # point a client at srv.url with (srv.username, srv.password)
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from types import FrameType

from ops.dev.sandbox.estate import Estate, EstateEndpoints
from ops.dev.sandbox.facts import Choice, SandboxFacts
from ops.dev.sandbox.faults import FaultPlan
from ops.dev.sandbox.live import LiveMessage
from ops.dev.sandbox.pacing import Pacing
from ops.dev.sandbox.server import LIVE_PROTOCOL, SandboxServer

__all__ = [
    "LIVE_PROTOCOL",
    "Choice",
    "Estate",
    "EstateEndpoints",
    "FaultPlan",
    "LiveMessage",
    "Pacing",
    "SandboxFacts",
    "SandboxServer",
    "serve",
]


def serve(
    port: int = 0,
    host: str = "127.0.0.1",
    admin_password: str | None = None,
    *,
    integration_roles: tuple[str, ...] = ("admin",),
    live_payments: bool = False,
    estate: bool = False,
) -> None:
    """Run a sandbox until SIGINT/SIGTERM; first print one JSON line with url and login."""
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stopping.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = SandboxServer(
        admin_password=admin_password,
        integration_roles=integration_roles,
        live_payments=live_payments,
        estate=EstateEndpoints() if estate else None,
    ).start(host=host, port=port)
    try:
        line = {
            "url": server.url,
            "username": server.username,
            "password": server.password,
            "roles": sorted(server.integration_roles),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
