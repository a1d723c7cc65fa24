"""Requests and answers as the router sees them, and the platform's envelopes.

An answer is built completely before anything is written, so that a fault can replace it
(or drop it, after a write was carried out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qsl

__all__ = [
    "JSON_TYPE",
    "Request",
    "Response",
    "accepts_json",
    "error",
    "json_body",
    "ok",
    "parse_query",
]

JSON_TYPE = "application/json;charset=UTF-8"


@dataclass
class Request:
    """One parsed HTTP request; ``user`` is set once it is authenticated."""

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: Message
    body: bytes
    user: str = ""

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return None if value is None else str(value)

    def flag(self, name: str) -> bool:
        """A ``sysparm_*`` boolean parameter."""
        return self.query.get(name, "false").lower() == "true"


@dataclass
class Response:
    """A complete answer; ``abort`` means: reset the connection instead."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    abort: bool = False


def parse_query(raw: str) -> dict[str, str]:
    """Query parameters; the first occurrence of a name wins."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        out.setdefault(key, value)
    return out


def json_body(
    status: int, payload: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", JSON_TYPE), *(headers or [])])


def ok(result: object, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    """The success envelope ``{"result": ...}``."""
    return json_body(status, {"result": result}, headers)


def error(
    status: int, message: str, detail: str = "", headers: list[tuple[str, str]] | None = None
) -> Response:
    """The error envelope ``{"error": {"message", "detail"}, "status": "failure"}``."""
    payload = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return json_body(status, payload, headers)


def accepts_json(accept: str) -> bool:
    """Whether an Accept header admits application/json (q=0 excludes a range)."""
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            if float(quality) <= 0:
                continue
        except ValueError:
            continue
        if media.lower() in ("application/json", "application/*", "*/*", "*"):
            return True
    return False
