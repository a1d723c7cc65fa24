"""The jobs list: filters, cursor pages, counts per state, and the JSON it refreshes from."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from messages import JobState, Stage
from ops.console.common import (
    SECURITY_HEADERS,
    Refused,
    app_of,
    refusal,
    render,
    require_session,
    signin_redirect,
    templates,
)
from ops.gateway.jobs_list import decode_cursor, encode_cursor
from workers.errors import TwowayError

__all__ = ["router"]

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 50


def _page(request: Request, filters: dict[str, Any], cursor: str | None) -> dict[str, Any]:
    store = app_of(request).store
    found = store.list_jobs(
        states=[JobState(filters["state"])] if filters["state"] else [],
        stage=Stage(filters["stage"]) if filters["stage"] else None,
        instance=filters["instance"] or None,
        target=filters["target"] or None,
        limit=PAGE + 1,
        after=decode_cursor(cursor) if cursor else None,
    )
    jobs, more = found[:PAGE], len(found) > PAGE
    query = [(k, v) for k, v in filters.items() if v]
    next_link = None
    if more:
        last = jobs[-1]
        next_link = "?" + urlencode([*query, ("cursor", encode_cursor(last.created_at, last.id))])
    counts, estimated = store.count_jobs_cheaply()
    return {
        "estimated": estimated,
        "jobs": [job.summary() for job in jobs],
        "next": next_link,
        "first": "?" + urlencode(query) if cursor else None,
        "counts": {s.value: counts.get(s.value, 0) for s in JobState},
        "total": sum(counts.values()),
    }


Filter = Annotated[str, Query(max_length=100)]


def _filters(state: str, stage: str, instance: str, target: str) -> dict[str, str]:
    if state and state not in {s.value for s in JobState}:
        raise Refused(400, f"state: {state[:40]!r} is not a job state", "pick one from the list")
    if stage and stage not in {s.value for s in Stage}:
        raise Refused(400, f"stage: {stage[:40]!r} is not a stage", "pick one from the list")
    return {"state": state, "stage": stage, "instance": instance, "target": target}


@router.get("/jobs")
def jobs_page(
    request: Request,
    state: Filter = "",
    stage: Filter = "",
    instance: Filter = "",
    target: Filter = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    try:
        session = require_session(request)
    except Refused:
        return signin_redirect(request)
    try:
        filters = _filters(state, stage, instance, target)
        page = _page(request, filters, cursor)
    except (Refused, TwowayError) as exc:
        return refusal(request, exc, session)
    context = {
        **page,
        "filters": filters,
        "states": [s.value for s in JobState],
        "stages": [r.stage.value for r in app_of(request).runtime.routes],
        "cursor": cursor,
    }
    return render(request, "jobs.html", context, session=session)


@router.get("/jobs.json")
def jobs_json(
    request: Request,
    state: Filter = "",
    stage: Filter = "",
    instance: Filter = "",
    target: Filter = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The rows and counts the list page redraws itself with (its script polls this)."""
    try:
        session = require_session(request)
        page = _page(request, _filters(state, stage, instance, target), cursor)
    except Refused as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    except TwowayError as exc:
        return JSONResponse({"error": exc.message}, status_code=400)
    rows = templates.get_template("_job_rows.html").render(jobs=page["jobs"], session=session)
    counts = templates.get_template("_counts.html").render(**page)
    body = {"rows": rows, "counts": counts, "next": page["next"], "total": page["total"]}
    return JSONResponse(body, headers=SECURITY_HEADERS)
