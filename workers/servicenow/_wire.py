"""The wire format of the Table and Attachment APIs: queries, rows and envelopes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from workers.errors import RequestInvalid, ServiceNowUnavailable

__all__ = [
    "Req",
    "display",
    "encoded_query",
    "int_or_none",
    "matches",
    "ordered",
    "record",
    "result_list",
    "secret_values",
    "seg",
    "write_params",
]

_SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
_FIELD = re.compile(r"^[A-Za-z0-9_.]+$")


@dataclass(frozen=True)
class Req:
    """One logical call; ``template`` names it in records and errors (no ids, no values)."""

    method: str
    template: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    data: bytes | None = None
    form: Mapping[str, str] | None = None
    content_type: str | None = None
    accept: str = "application/json"
    authed: bool = True
    retry_safe: bool | None = None
    ok_statuses: frozenset[int] = frozenset()
    missing_ok_on_retry: bool = False
    secrets: tuple[str, ...] = ()

    @property
    def safe(self) -> bool:
        return self.method in _SAFE_METHODS if self.retry_safe is None else self.retry_safe

    @property
    def what(self) -> str:
        return f"{self.method} {self.template}"


def seg(value: str) -> str:
    return quote(value, safe="")


def encoded_query(conditions: Mapping[str, str], encoded: str) -> str:
    parts = []
    for name, value in conditions.items():
        if not _FIELD.fullmatch(name):
            raise RequestInvalid(f"{name!r} is not a field name")
        if "^" in value or "\n" in value or "\r" in value:
            raise RequestInvalid(
                f"the value for {name!r} holds '^' or a line break, which an encoded query"
                " cannot carry; choose a name without them"
            )
        parts.append(f"{name}={value}")
    if encoded:
        parts.append(encoded)
    return "^".join(parts)


def ordered(query: str) -> str:
    """``query`` with a stable order (by sys_id) unless it has one, so pages do not shift."""
    if "ORDERBY" in query:
        return query
    return f"{query}^ORDERBYsys_id" if query else "ORDERBYsys_id"


def _as_text(value: Any) -> str:
    if isinstance(value, dict):  # sysparm_display_value=all, or a reference link
        value = value.get("value", "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def matches(row: Mapping[str, Any], conditions: Mapping[str, str]) -> bool:
    return all(name in row and _as_text(row[name]) == want for name, want in conditions.items())


def display(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value.get("display_value", "") if isinstance(value, dict) else value
        for name, value in row.items()
    }


def write_params(input_display_value: bool) -> dict[str, str]:
    params = {"sysparm_exclude_reference_link": "true"}
    if input_display_value:
        params["sysparm_input_display_value"] = "true"
    return params


def secret_values(values: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(v for k, v in values.items() if "password" in k and isinstance(v, str))


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _body(resp: requests.Response, what: str) -> Any:
    if resp.status_code == 204 or not resp.content:
        return None
    try:
        body = resp.json()
    except ValueError as exc:
        # a hibernating or misrouted instance answers 200 with an HTML page
        raise ServiceNowUnavailable(
            f"{what}: the answer is not JSON",
            status_code=resp.status_code,
            hint="check the instance URL; a hibernating developer instance answers with HTML",
        ) from exc
    return body.get("result") if isinstance(body, dict) else None


def record(resp: requests.Response, what: str, *, allow_empty: bool = False) -> dict[str, Any]:
    result = _body(resp, what)
    if isinstance(result, dict) and (result or allow_empty):
        return result
    if result is None and allow_empty:
        return {}
    raise ServiceNowUnavailable(f"{what}: the answer holds no record", status_code=resp.status_code)


def result_list(resp: requests.Response, what: str) -> list[dict[str, Any]]:
    result = _body(resp, what)
    if result is None:
        return []
    if isinstance(result, list):
        return [row for row in result if isinstance(row, dict)]
    raise ServiceNowUnavailable(f"{what}: the answer holds no list", status_code=resp.status_code)
