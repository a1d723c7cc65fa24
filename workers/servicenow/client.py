"""A ServiceNow client for the Table API and the Attachment API (servicenow-api.md 2, 5).

One ``requests.Session``; a ``(connect, read)`` timeout on every call; errors translated
once into twoway's tree. Retries only where a retry is safe: GET, PUT, PATCH and DELETE
on ``ServiceNowUnavailable`` (backoff with jitter) and on 429 (after the asked wait).
POST is retried only when the connection was never made; after that, the caller's
idempotent logic (look again, then create) decides. The worker threads of a process
share one client per instance (:class:`workers.machinery.deps.InstanceRegistry`): the
session is set up once when the client is made and never changed after, its connection
pool is thread-safe, and the OAuth token is refreshed under a lock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from workers.servicenow import _wire as wire
from workers.servicenow._transport import CallGate, Transport
from workers.servicenow.auth import BasicAuth, CallRecord, OAuthPassword

__all__ = ["ServiceNowClient"]

_ATTACHMENT = "/api/now/attachment"
_PROBED = frozenset({400, 401, 403, 404, 405, 406, 415})


class ServiceNowClient:
    """Table API and Attachment API calls against one instance."""

    def __init__(
        self,
        base_url: str,
        auth: BasicAuth | OAuthPassword,
        *,
        api_version: str = "v2",
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 4,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        observer: Callable[[CallRecord], None] | None = None,
        verify: bool | str = True,
        page_size: int = 1000,
        gate: CallGate | None = None,
    ) -> None:
        if api_version not in ("", "v1", "v2"):
            raise ValueError("api_version must be 'v1', 'v2' or '' (the latest)")
        self._base = base_url.rstrip("/")
        self._auth_kind = type(auth).__name__
        self._version = api_version
        self._page_size = max(page_size, 1)
        self._http = Transport(
            self._base,
            auth,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_wait=max_wait,
            observer=observer,
            verify=verify,
            gate=gate,
        )

    def __repr__(self) -> str:
        return f"ServiceNowClient({self._base!r}, {self._auth_kind}, {self._version!r})"

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def api_version(self) -> str:
        return self._version

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceNowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- Table API -------------------------------------------------------------------

    def query(
        self,
        table: str,
        conditions: Mapping[str, str] | None = None,
        *,
        encoded: str = "",
        fields: Sequence[str] = (),
        limit: int | None = None,
        display_value: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` matching every ``conditions`` equality exactly, and ``encoded``.

        Each returned row is re-checked against ``conditions``: the Table API silently
        ignores an invalid condition and would otherwise match far more than asked.
        """
        wanted = dict(conditions or {})
        params = {
            "sysparm_query": wire.ordered(wire.encoded_query(wanted, encoded)),
            "sysparm_exclude_reference_link": "true",
            "sysparm_display_value": "all" if display_value else "false",
        }
        if fields:
            params["sysparm_fields"] = ",".join(dict.fromkeys([*fields, *wanted]))
        rows = self._collect(
            self._table_path(table), f"{self._table_path(table)}", params, limit, table_api=True
        )
        rows = [row for row in rows if wire.matches(row, wanted)]
        return [wire.display(row) for row in rows] if display_value else rows

    def get(self, table: str, sys_id: str, *, fields: Sequence[str] = ()) -> dict[str, Any] | None:
        """One record, or None when the instance says 404 (missing, or hidden by an ACL)."""
        params = {"sysparm_exclude_reference_link": "true"}
        if fields:
            params["sysparm_fields"] = ",".join(fields)
        resp = self._http.send(
            wire.Req(
                "GET",
                f"{self._table_path(table)}/{{sys_id}}",
                self._table_path(table, sys_id),
                params,
                ok_statuses=frozenset({404}),
            )
        )
        return None if resp.status_code == 404 else wire.record(resp, "GET " + table)

    def create(
        self, table: str, values: Mapping[str, str], *, input_display_value: bool = False
    ) -> dict[str, Any]:
        """POST one record (never retried once sent) and return it as stored."""
        path = self._table_path(table)
        resp = self._http.send(
            wire.Req(
                "POST",
                path,
                path,
                wire.write_params(input_display_value),
                json=values,
                secrets=wire.secret_values(values),
            )
        )
        created = wire.record(resp, f"POST {table}", allow_empty=True)
        if created:
            return created
        # ACLs can blank the answer (servicenow-api.md 6.10): the Location header names it.
        sys_id = resp.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]
        return (self.get(table, sys_id) if sys_id else None) or {}

    def update(
        self,
        table: str,
        sys_id: str,
        values: Mapping[str, str],
        *,
        input_display_value: bool = False,
    ) -> dict[str, Any]:
        """PATCH the given fields of one record; setting the same values twice is harmless."""
        resp = self._http.send(
            wire.Req(
                "PATCH",
                f"{self._table_path(table)}/{{sys_id}}",
                self._table_path(table, sys_id),
                wire.write_params(input_display_value),
                json=values,
                secrets=wire.secret_values(values),
            )
        )
        return wire.record(resp, f"PATCH {table}", allow_empty=True)

    def delete(self, table: str, sys_id: str) -> None:
        """DELETE one record; a 404 after a retried attempt means the first one worked."""
        self._http.send(
            wire.Req(
                "DELETE",
                f"{self._table_path(table)}/{{sys_id}}",
                self._table_path(table, sys_id),
                missing_ok_on_retry=True,
            )
        )

    # ---- Attachment API --------------------------------------------------------------

    def upload_attachment(
        self,
        table: str,
        sys_id: str,
        file_name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """POST the raw bytes as an attachment of the record (never retried once sent)."""
        params = {"table_name": table, "table_sys_id": sys_id, "file_name": file_name}
        path = f"{_ATTACHMENT}/file"
        req = wire.Req("POST", path, path, params, data=data, content_type=content_type)
        return wire.record(self._http.send(req), "POST attachment")

    def list_attachments(self, table: str, sys_id: str) -> list[dict[str, Any]]:
        """Metadata of every attachment of the record."""
        wanted = {"table_name": table, "table_sys_id": sys_id}
        params = {"sysparm_query": wire.ordered(wire.encoded_query(wanted, ""))}
        rows = self._collect(_ATTACHMENT, _ATTACHMENT, params, None, table_api=False)
        return [row for row in rows if wire.matches(row, wanted)]

    def attachment_hash(self, sys_id: str) -> str | None:
        """``sys_attachment.hash`` (SHA-256 hex, lower-cased) read through the Table API."""
        row = self.get("sys_attachment", sys_id, fields=("sys_id", "hash"))
        value = str((row or {}).get("hash") or "").strip().lower()
        return value or None

    def download_attachment(self, sys_id: str) -> bytes:
        """The attachment's content."""
        req = wire.Req(
            "GET",
            f"{_ATTACHMENT}/{{sys_id}}/file",
            f"{_ATTACHMENT}/{wire.seg(sys_id)}/file",
            accept="*/*",
        )
        return self._http.send(req).content

    def delete_attachment(self, sys_id: str) -> None:
        req = wire.Req(
            "DELETE",
            f"{_ATTACHMENT}/{{sys_id}}",
            f"{_ATTACHMENT}/{wire.seg(sys_id)}",
            missing_ok_on_retry=True,
        )
        self._http.send(req)

    def probe(self, path: str, params: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """A read-only GET of ``path`` answered as it is: (status, JSON body or None), a
        4xx included, for the conformance kit, which checks the wire itself."""
        req = wire.Req("GET", path, path, dict(params or {}), ok_statuses=_PROBED)
        resp = self._http.send(req)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, None

    # ---- plumbing --------------------------------------------------------------------

    def _table_path(self, table: str, sys_id: str | None = None) -> str:
        version = f"/{self._version}" if self._version else ""
        path = f"/api/now{version}/table/{wire.seg(table)}"
        return f"{path}/{wire.seg(sys_id)}" if sys_id is not None else path

    def _collect(
        self,
        path: str,
        template: str,
        params: Mapping[str, str],
        limit: int | None,
        *,
        table_api: bool,
    ) -> list[dict[str, Any]]:
        """Every page: offset += limit until X-Total-Count (or a short page) says done."""
        empty_404 = frozenset({404}) if table_api and self._version == "v1" else frozenset()
        rows: list[dict[str, Any]] = []
        offset = 0
        while limit is None or len(rows) < limit:
            size = self._page_size if limit is None else min(self._page_size, limit - len(rows))
            page_params = {**params, "sysparm_limit": str(size), "sysparm_offset": str(offset)}
            resp = self._http.send(
                wire.Req("GET", template, path, page_params, ok_statuses=empty_404)
            )
            if resp.status_code == 404:  # v1: nothing matches
                break
            page = wire.result_list(resp, f"GET {template}")
            rows.extend(page)
            offset += size
            total = wire.int_or_none(resp.headers.get("X-Total-Count"))
            if not (offset < total if total is not None else len(page) == size):
                break
        return rows if limit is None else rows[:limit]
