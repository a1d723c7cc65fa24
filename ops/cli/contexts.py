"""Named CLI contexts, as kubeconfig has them: one file (mode 0600), several gateways.

The file (``TWOWAY_CONTEXT``, default ``~/.config/twoway/context.json``)::

    {"current": "up-84038285", "contexts": {"up-84038285": {"url": ..., "token": ...},
                                            "default": {"url": ..., "token": ...}}}

``twoway up`` adds a context named after its stack and makes it current; when it stops
it removes that context only (the current one falls back to the context added before).
``twoway login`` writes ``default`` (or ``--name``); ``twoway context list|use`` shows and
switches. A file of the older shape (``{"url", "token"}``) reads as one context,
``default``. Writes hold an exclusive lock, so two stacks starting together both land.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["forget_context", "read_contexts", "save_context", "use_context"]

Contexts = dict[str, Any]


def read_contexts(path: Path) -> Contexts:
    """``{"current": name | None, "contexts": {name: {"url", "token"}}}`` (empty if none);
    ValueError when the file is not JSON."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {"current": None, "contexts": {}}
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if "contexts" not in data:  # the older shape: one context
        if data.get("url") and data.get("token"):
            return {"current": "default", "contexts": {"default": data}}
        return {"current": None, "contexts": {}}
    contexts = data.get("contexts")
    if not isinstance(contexts, dict):
        raise ValueError("'contexts' is not an object")
    return {"current": data.get("current"), "contexts": contexts}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[Contexts]:
    """The contents, for changing; written back (0600) when the block ends without error."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_contexts(path)
        yield data
        if not data["contexts"]:
            path.unlink(missing_ok=True)
            return
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        scratch.replace(path)
        path.chmod(0o600)
    finally:
        os.close(lock)


def save_context(path: Path, name: str, url: str, token: str, *, use: bool = True) -> None:
    """Add or replace context ``name``; make it current if ``use`` (or if none is)."""
    with _locked(path) as data:
        data["contexts"].pop(name, None)  # re-added last: the newest
        data["contexts"][name] = {"url": url.rstrip("/"), "token": token}
        if use or data["current"] not in data["contexts"]:
            data["current"] = name


def use_context(path: Path, name: str) -> bool:
    """Make ``name`` current; False when there is no such context."""
    with _locked(path) as data:
        if name not in data["contexts"]:
            return False
        data["current"] = name
        return True


def forget_context(path: Path, name: str, token: str) -> None:
    """Remove context ``name`` if it still holds ``token`` (nobody replaced it); if it was
    current, the newest remaining context becomes current."""
    with contextlib.suppress(OSError, ValueError), _locked(path) as data:
        saved = data["contexts"].get(name)
        if not isinstance(saved, dict) or saved.get("token") != token:
            return
        del data["contexts"][name]
        if data["current"] == name:
            data["current"] = next(reversed(data["contexts"]), None)
