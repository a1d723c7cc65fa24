"""Routing, authentication, header rules and faults for every call to the instance.

Order of a call to ``/api/now/*`` or ``/oauth_token.do``: the pacing admits it (queued or
refused past its concurrency) and waits its latency (ops/dev/sandbox/pacing.py); the fault
plan draws; a fault
answers at once (or, with ``after_write``, after the write was carried out); otherwise the
caller is authenticated (401), the Accept and Content-Type rules are checked (400/406),
and the route answers. Refusals raised anywhere become the error envelope.
``/sandbox/*`` is the sandbox's own control plane, not part of the ServiceNow API.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from ops.dev.sandbox.access import Roles
from ops.dev.sandbox.attachment_api import AttachmentApi
from ops.dev.sandbox.auth import Auth
from ops.dev.sandbox.faults import FaultInjector
from ops.dev.sandbox.pacing import Pacer
from ops.dev.sandbox.store import Refusal, SandboxStore
from ops.dev.sandbox.table_api import TableApi
from ops.dev.sandbox.wire import Request, Response, accepts_json, error, parse_query

__all__ = ["SandboxApp"]

log = logging.getLogger(__name__)

_API = r"/api/now/(?:(v[12])/)?"
_TABLE_COLLECTION = re.compile(_API + r"table/([^/]+)/?")
_TABLE_RECORD = re.compile(_API + r"table/([^/]+)/([^/]+)/?")
_ATTACH = r"/api/now/(?:v1/)?attachment"
_ATTACH_FILE = re.compile(_ATTACH + r"/file/?")
_ATTACH_UPLOAD = re.compile(_ATTACH + r"/upload/?")
_ATTACH_LIST = re.compile(_ATTACH + r"/?")
_ATTACH_ONE = re.compile(_ATTACH + r"/([^/]+)/?")
_ATTACH_CONTENT = re.compile(_ATTACH + r"/([^/]+)/file/?")


def _method_not_allowed(request: Request) -> Response:
    return error(405, "Method not Supported", f"{request.method} method not supported for API")


class SandboxApp:
    """Turns a :class:`Request` into a :class:`Response`; thread-safe."""

    def __init__(
        self,
        store: SandboxStore,
        auth: Auth,
        faults: FaultInjector,
        control: Callable[[Request], Response],
        pacer: Pacer | None = None,
    ) -> None:
        self.store, self.auth, self.faults, self.control = store, auth, faults, control
        self.pacer = pacer or Pacer()
        self.base_url = ""
        self.tables = TableApi(store, lambda: self.base_url)
        self.attachments = AttachmentApi(store, self._full_name, lambda: self.base_url)
        self.request_log: list[tuple[str, str, int]] = []
        self._log_lock = threading.Lock()

    def _full_name(self, username: str) -> str:
        user = self.auth.user(username)
        return user.full_name if user else username

    def record(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self.request_log.append((method, path, status))

    def dispatch(self, request: Request) -> Response:
        override = request.header("X-http-method-override")
        if override:
            request.method = override.strip().upper()
        if request.path.startswith("/sandbox/"):
            return self._guarded(request, self.control)
        if not (request.path.startswith("/api/now/") or request.path == "/oauth_token.do"):
            return error(404, "Not Found", f"{request.path} is not served by this instance")
        return self.pacer.serve(lambda: self._answer(request))

    def _answer(self, request: Request) -> Response:
        kind = self.faults.draw(request)
        if kind is None or self.faults.delays(kind):
            return self._guarded(request, self._serve)
        if self.faults.write_lands(request):
            self._guarded(request, self._serve)  # the write happens; its answer is lost
        return self.faults.answer(kind, request)

    def _guarded(self, request: Request, handler: Callable[[Request], Response]) -> Response:
        try:
            return handler(request)
        except Refusal as refusal:
            return error(refusal.status, refusal.message, refusal.detail)
        except Exception:
            log.exception("sandbox handler failed for %s %s", request.method, request.path)
            return error(500, "Internal Server Error", "An unexpected error occurred")

    def _serve(self, request: Request) -> Response:
        if request.path == "/oauth_token.do":
            if request.method != "POST":
                return _method_not_allowed(request)
            return self.auth.token_endpoint(parse_query(request.body.decode("utf-8", "replace")))
        user = self.auth.authenticate(request.header("Authorization"))
        if user is None:
            challenge = [("WWW-Authenticate", 'Basic realm="Service-now"')]
            return error(
                401, "User Not Authenticated", "Required to provide Auth information", challenge
            )
        request.user = user.username
        problem = self._check_headers(request)
        return problem or self._route(request, user.roles)

    def _check_headers(self, request: Request) -> Response | None:
        accept = request.header("Accept")
        if accept is None or not accept.strip():
            return error(400, "Accept header is required", "Send Accept: application/json")
        downloading = _ATTACH_CONTENT.fullmatch(request.path) is not None
        if not downloading and not accepts_json(accept):
            return error(406, "Not Acceptable", f"Cannot answer with a type in Accept: {accept}")
        if request.body and not request.header("Content-Type"):
            return error(400, "Content-Type header is required when a body is sent", "")
        return None

    def _route(self, request: Request, roles: Roles) -> Response:
        path, method = request.path, request.method
        if match := _TABLE_COLLECTION.fullmatch(path):
            return self.tables.collection(request, match[1] or "", match[2], roles)
        if match := _TABLE_RECORD.fullmatch(path):
            return self.tables.record(request, match[1] or "", match[2], match[3], roles)
        if _ATTACH_FILE.fullmatch(path):
            return (
                self.attachments.upload_file(request, roles)
                if method == "POST"
                else (_method_not_allowed(request))
            )
        if _ATTACH_UPLOAD.fullmatch(path):
            return (
                self.attachments.upload_multipart(request, roles)
                if method == "POST"
                else (_method_not_allowed(request))
            )
        if _ATTACH_LIST.fullmatch(path):
            return (
                self.attachments.listing(request, roles)
                if method in ("GET", "HEAD")
                else (_method_not_allowed(request))
            )
        if match := _ATTACH_CONTENT.fullmatch(path):
            return (
                self.attachments.content(match[1], roles)
                if method in ("GET", "HEAD")
                else (_method_not_allowed(request))
            )
        if match := _ATTACH_ONE.fullmatch(path):
            if method not in ("GET", "HEAD", "DELETE"):
                return _method_not_allowed(request)
            return self.attachments.one(request, match[1], roles)
        return error(400, "Requested URI does not represent any resource", "")
