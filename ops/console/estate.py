"""The estate page: what discovery finds on an instance (read-only, like the API's)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ops.console.common import Refused, app_of, render, require_session, signin_redirect
from workers.errors import TwowayError
from workers.estate.inventory import discover_estate

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/estate")
def estate_page(request: Request, instance: str | None = None) -> Response:
    try:
        session = require_session(request)
    except Refused:
        return signin_redirect(request)
    app = app_of(request)
    names = sorted(app.config.instances)
    context: dict[str, object] = {"instances": names, "instance": instance, "report": None}
    if instance in names:
        try:
            report = discover_estate(instance, app.config, app.deps.instances)
            context["report"] = report.model_dump()
        except TwowayError as exc:
            context["problem"] = exc.as_dict()
    return render(request, "estate.html", context, session=session)
