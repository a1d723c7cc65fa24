"""The operator console: web pages at ``/ui`` for watching, resuming and replaying jobs.

Server-rendered (Jinja2) with one small script that refreshes the jobs list; every file
it needs ships in this package, so it works on a closed network. Signing in takes an API
token (:mod:`.session`); every action calls the function the JSON API's route calls.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ops.console import actions, estate, job, jobs, lists, signin
from ops.console.common import HERE

__all__ = ["PATH", "install_console"]

PATH = "/ui"


def install_console(api: FastAPI) -> None:
    for module in (signin, jobs, job, actions, lists, estate):
        api.include_router(module.router)
    api.mount(f"{PATH}/static", StaticFiles(directory=HERE / "static"), name="console-static")
