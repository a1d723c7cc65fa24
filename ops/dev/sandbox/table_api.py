"""The Table API: ``/api/now[/v1|/v2]/table/{table}[/{sys_id}]`` (servicenow-api.md 5)."""

from __future__ import annotations

import json
from collections.abc import Callable

from ops.dev.sandbox.access import Roles, can_read, require_write
from ops.dev.sandbox.paging import page
from ops.dev.sandbox.store import Refusal, SandboxStore
from ops.dev.sandbox.values import display_mode, render
from ops.dev.sandbox.wire import Request, Response, error, ok

__all__ = ["TableApi", "not_found", "payload"]

TABLE_LIMIT = 10000


def not_found() -> Response:
    return error(
        404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
    )


def payload(request: Request) -> dict[str, object]:
    """The JSON object a write sends; only the first record of a list counts (5.1)."""
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if not content_type:
        raise Refusal(400, "Content-Type header is required when a body is sent", "")
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise Refusal(
            415, "Unsupported Media Type", f"Content-Type {content_type} is not supported"
        )
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refusal(
            400, "Exception while reading request", "The payload is not valid JSON."
        ) from None
    if isinstance(data, list):
        data = data[0] if data else {}
    if not isinstance(data, dict):
        raise Refusal(400, "Exception while reading request", "The payload is not a JSON object.")
    return data


class TableApi:
    """Handlers for table collections and single records."""

    def __init__(self, store: SandboxStore, base_url: Callable[[], str]) -> None:
        self.store = store
        self.base_url = base_url

    def render_row(self, table: str, row: dict[str, str], request: Request) -> dict[str, object]:
        """A record as the Table API shows it, honouring the sysparm_* parameters."""
        spec = self.store.table(table)
        mode = display_mode(request.query.get("sysparm_display_value"))
        exclude = request.flag("sysparm_exclude_reference_link")
        fields = request.query.get("sysparm_fields", "")
        names = (
            [f.strip() for f in fields.split(",") if f.strip()] if fields else list(spec.columns)
        )
        out: dict[str, object] = {}
        for name in names:
            found = self.store.walk(table, row, name)
            if found is not None:
                column, stored = found
                out[name] = render(
                    column,
                    stored,
                    mode=mode,
                    exclude_link=exclude,
                    base_url=self.base_url(),
                    display_of=self.store.display_of,
                )
        return out

    def _check_table(self, table: str) -> None:
        if table not in self.store.schema:
            raise Refusal(400, f"Invalid table {table}", "")

    def collection(self, request: Request, version: str, table: str, roles: Roles) -> Response:
        self._check_table(table)
        if request.method in ("GET", "HEAD"):
            return self._list(request, version, table, roles)
        if request.method == "POST":
            return self._create(request, table, roles)
        return error(405, "Method not Supported", f"{request.method} method not supported for API")

    def _list(self, request: Request, version: str, table: str, roles: Roles) -> Response:
        readable = can_read(self.store, table, roles)
        rows = self.store.select(table, request.query.get("sysparm_query", ""))
        window = page(request, len(rows), TABLE_LIMIT)
        # The limit is applied before ACL filtering (5.2), so the count includes hidden rows.
        shown = rows[window.offset : window.offset + window.limit] if readable else []
        if version == "v1" and not shown:
            return error(404, "No Record found", "Records matching the query were not found")
        result = [self.render_row(table, row, request) for row in shown]
        return ok(result, headers=window.headers(request, self.base_url()))

    def _create(self, request: Request, table: str, roles: Roles) -> Response:
        values = payload(request)
        require_write(self.store, table, "create", roles)
        display_input = request.flag("sysparm_input_display_value")
        row = self.store.insert(table, values, request.user, display_input=display_input)
        location = [("Location", f"{self.base_url()}/api/now/table/{table}/{row['sys_id']}")]
        if (request.header("X-no-response-body") or "").lower() == "true":
            return Response(201, b"", location)
        return ok(self.render_row(table, row, request), 201, location)

    def record(
        self, request: Request, version: str, table: str, sys_id: str, roles: Roles
    ) -> Response:
        del version  # single-record answers are the same in every version
        self._check_table(table)
        method = request.method
        if method in ("GET", "HEAD"):
            row = self.store.get(table, sys_id)
            if row is None or not can_read(self.store, table, roles):
                return not_found()
            return ok(self.render_row(table, row, request))
        if method in ("PUT", "PATCH"):
            values = payload(request)
            require_write(self.store, table, "update", roles)
            display_input = request.flag("sysparm_input_display_value")
            updated = self.store.update(
                table, sys_id, values, request.user, display_input=display_input
            )
            return not_found() if updated is None else ok(self.render_row(table, updated, request))
        if method == "DELETE":
            require_write(self.store, table, "delete", roles)
            return Response(204) if self.store.delete(table, sys_id, request.user) else not_found()
        return error(405, "Method not Supported", f"{method} method not supported for API")
