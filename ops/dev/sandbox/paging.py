"""Pagination of collection answers: ``sysparm_limit``/``sysparm_offset``, ``X-Total-Count``
and the ``Link`` header with first/prev/next/last (servicenow-api.md 5.7)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from ops.dev.sandbox.wire import Request

__all__ = ["Page", "page"]


def _number(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except ValueError:
        return default
    return value if value >= 0 else default


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int
    total: int

    def headers(self, request: Request, base_url: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not request.flag("sysparm_no_count"):
            out.append(("X-Total-Count", str(self.total)))
        if not request.flag("sysparm_suppress_pagination_header"):
            out.append(("Link", self._link(request, base_url)))
        return out

    def _url(self, request: Request, base_url: str, offset: int) -> str:
        params = dict(request.query)
        params["sysparm_limit"] = str(self.limit)
        params["sysparm_offset"] = str(offset)
        return f"<{base_url}{request.path}?{urlencode(params)}>"

    def _link(self, request: Request, base_url: str) -> str:
        limit = max(self.limit, 1)
        rels = [("first", 0)]
        if self.offset > 0:
            rels.append(("prev", max(self.offset - limit, 0)))
        if self.offset + limit < self.total:
            rels.append(("next", self.offset + limit))
        rels.append(("last", max((self.total - 1) // limit * limit, 0)))
        return ",".join(f'{self._url(request, base_url, off)};rel="{rel}"' for rel, off in rels)


def page(request: Request, total: int, default_limit: int) -> Page:
    """The page a request asks for, over ``total`` matching rows."""
    limit = _number(request.query.get("sysparm_limit"), default_limit)
    offset = _number(request.query.get("sysparm_offset"), 0)
    return Page(offset, limit, total)
