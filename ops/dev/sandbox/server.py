"""``SandboxServer``: one emulated ServiceNow instance on a local port.

srv = SandboxServer().start()
requests.get(f"{srv.url}/api/now/table/sys_certificate",
             auth=(srv.username, srv.password), headers={"Accept": "application/json"})
srv.stop()
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from ops.dev.sandbox import rules, seed
from ops.dev.sandbox.app import SandboxApp
from ops.dev.sandbox.auth import INTEGRATION_ROLES, Auth
from ops.dev.sandbox.control import Control
from ops.dev.sandbox.estate import Estate, EstateEndpoints, add_estate
from ops.dev.sandbox.facts import SandboxFacts
from ops.dev.sandbox.faults import FaultInjector
from ops.dev.sandbox.http import HttpServer
from ops.dev.sandbox.live import LiveMessage, add_live_rest_message
from ops.dev.sandbox.pacing import Pacer, Pacing
from ops.dev.sandbox.people import seed_people
from ops.dev.sandbox.store import SandboxStore
from ops.dev.sandbox.tables import build_schema

__all__ = ["LIVE_PROTOCOL", "SandboxServer"]

LIVE_PROTOCOL = "mauthpayments"

_OPERATIONS = {
    "read": ("read",),
    "create": ("create",),
    "insert": ("create",),
    "update": ("update",),
    "delete": ("delete",),
    "write": ("create", "update", "delete"),
}


class SandboxServer:
    """A faithful ServiceNow instance for tests, demos and dry runs (see the package doc)."""

    def __init__(
        self,
        facts: SandboxFacts | None = None,
        *,
        seed_endpoint: str = "https://localhost:8443/api",
        admin_password: str | None = None,
        integration_roles: tuple[str, ...] = INTEGRATION_ROLES,
        live_payments: bool = False,
        estate: EstateEndpoints | None = None,
    ) -> None:
        """``integration_roles``: the integration user's roles (``("web_service_admin",)``
        for one that lacks admin: certificates and profiles answer 403). ``live_payments``:
        "Payments API" is already live on mutual auth (profile ``mauthpayments``, an active
        JKS record "Payments API keystore"), see :meth:`add_live_rest_message`.
        ``estate``: the hand-made mutual-TLS estate of ops/dev/sandbox/estate.py, its
        messages pointing where it says (``self.estate`` says what was made)."""
        self.facts = facts or SandboxFacts()
        self.store = SandboxStore(build_schema(self.facts), self.facts)
        rules.install(self.store)
        self._auth = Auth(admin_password, integration_roles)
        self.faults = FaultInjector(self.facts.retry_after_header)
        self.pacer = Pacer()
        control = Control(self.store, self._auth, self.faults, self.pacer)
        self._app = SandboxApp(self.store, self._auth, self.faults, control, self.pacer)
        seed.seed(self.store, seed_endpoint)
        seed_people(self.store, self._auth.users())
        self.live: LiveMessage | None = None
        if live_payments:
            self.live = add_live_rest_message(
                self.store, "Payments API", seed_endpoint, protocol=LIVE_PROTOCOL
            )
        self.estate: Estate | None = add_estate(self.store, estate) if estate else None
        self._httpd: HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve in background threads; returns self."""
        if self._httpd is not None:
            raise RuntimeError("sandbox already started")
        self._httpd = HttpServer((host, port), self._app)
        self._app.base_url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="twoway-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd, self._thread = None, None

    def __enter__(self) -> Self:
        return self if self._httpd is not None else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- who and where ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the instance, e.g. ``http://127.0.0.1:PORT``."""
        if not self._app.base_url:
            raise RuntimeError("sandbox not started")
        return self._app.base_url

    @property
    def username(self) -> str:
        return self._auth.admin.username

    @property
    def password(self) -> str:
        return self._auth.admin.password

    @property
    def readonly_username(self) -> str:
        return self._auth.readonly.username

    @property
    def readonly_password(self) -> str:
        return self._auth.readonly.password

    @property
    def oauth_client_id(self) -> str:
        return self._auth.client_id

    @property
    def oauth_client_secret(self) -> str:
        return self._auth.client_secret

    # -- for tests -------------------------------------------------------------------

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every call, oldest first; status 0 = reset."""
        return self._app.request_log

    def pace(self, pacing: Pacing) -> None:
        """Answer with this latency and concurrency from now on (counters start again)."""
        self.pacer.set(pacing)

    @property
    def max_in_flight(self) -> int:
        """The most API calls this instance ever had in flight at once (queued included)."""
        return self.pacer.max_in_flight

    def dump(self) -> dict[str, list[dict[str, str]]]:
        """A deep copy of every table's stored rows (passwords as their opaque tokens)."""
        return self.store.dump()

    def broken_keystores(self) -> list[str]:
        """sys_ids of active keystore records whose attachment does not load (KB1217702)."""
        return rules.broken_keystores(self.store)

    def add_rest_message(
        self, name: str, endpoint: str, methods: Iterable[str] = ("get", "post", "delete")
    ) -> str:
        return seed.add_rest_message(self.store, name, endpoint, methods)

    def add_live_rest_message(
        self,
        name: str,
        endpoint: str,
        *,
        protocol: str,
        keystore_name: str | None = None,
        keystore: tuple[bytes, str] | None = None,
    ) -> LiveMessage:
        """A REST message (new, or the one of that name) and its methods already on mutual
        auth with their own profile ``protocol`` and an active JKS record; ``keystore`` is
        (JKS bytes, password), by default a self-signed key pair made here."""
        return add_live_rest_message(
            self.store,
            name,
            endpoint,
            protocol=protocol,
            keystore_name=keystore_name,
            keystore=keystore,
        )

    @property
    def integration_roles(self) -> frozenset[str]:
        return self._auth.admin.roles

    def add_soap_message(self, name: str, endpoint: str) -> str:
        return seed.add_soap_message(self.store, name, endpoint)

    def set_property(self, name: str, value: str) -> str:
        return seed.set_property(self.store, name, value)

    def forbid(self, table: str, operation: str) -> None:
        """Make ``operation`` (read/create/update/delete/write) on ``table`` answer 403."""
        with self.store.lock:
            self.store.forbidden.update((table, op) for op in _OPERATIONS[operation])

    def allow(self, table: str, operation: str) -> None:
        """Undo :meth:`forbid`."""
        with self.store.lock:
            self.store.forbidden.difference_update((table, op) for op in _OPERATIONS[operation])
