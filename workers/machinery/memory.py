"""What a stage run keeps of its job besides its outcome: artifacts, the results of
earlier stages, leases on what jobs share, and notes written at once.

``StageContext`` reaches the store only through a ``JobMemory``. The pipeline's is the
store (``StoredJob``); the benchmark's floor runs the same cores on dictionaries
(``JobInMemory``) and no store at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

from messages import Stage
from workers.store import Store

__all__ = ["JobInMemory", "JobMemory", "Made", "StoredJob"]

Made = tuple[str, bytes, bool, bool]  # name, value as stored, sealed, replaces what is there


class JobMemory(Protocol):
    def stored(self) -> dict[str, tuple[bytes, bool]]:
        """Every artifact of the job as stored: ``(data, sealed)`` by name."""
        ...

    def open(self, data: bytes, sealed: bool) -> bytes:
        """A stored value's plaintext."""
        ...

    def seal(self, data: bytes) -> bytes:
        """A secret's value as it is stored."""
        ...

    def put_all(self, values: Mapping[str, bytes], *, secret: bool = False) -> dict[str, bytes]:
        """Store each name unless it is there, all in one go; what is stored by name."""
        ...

    def output(self, stage: Stage) -> str | None:
        """The result ``stage`` recorded for the job (a message's JSON), if any."""
        ...

    def acquire(self, key: str, stage: Stage, owner: str, lease: timedelta) -> bool:
        """Take the lease ``key`` (free, expired or ``owner``'s); False if another holds it."""
        ...

    def release(self, key: str, owner: str) -> None: ...

    def note_now(self, kind: str, detail: Mapping[str, Any]) -> None:
        """An event in the job's history, written at once."""
        ...


class StoredJob:
    """A job's memory in the store."""

    def __init__(self, store: Store, job_id: str) -> None:
        self._store = store
        self._job_id = job_id

    def stored(self) -> dict[str, tuple[bytes, bool]]:
        return self._store.artifacts.stored_for(self._job_id)

    def open(self, data: bytes, sealed: bool) -> bytes:
        return self._store.artifacts.open(data, sealed)

    def seal(self, data: bytes) -> bytes:
        return self._store.artifacts.seal(data)

    def put_all(self, values: Mapping[str, bytes], *, secret: bool = False) -> dict[str, bytes]:
        return self._store.artifacts.put_all(self._job_id, values, secret=secret)

    def output(self, stage: Stage) -> str | None:
        recorded = self._store.progress.get_output(self._job_id, stage)
        return None if recorded is None else recorded.message

    def acquire(self, key: str, stage: Stage, owner: str, lease: timedelta) -> bool:
        return self._store.progress.acquire(key, stage.value, owner, lease) is None

    def release(self, key: str, owner: str) -> None:
        self._store.progress.release(key, owner)

    def note_now(self, kind: str, detail: Mapping[str, Any]) -> None:
        self._store.note(self._job_id, kind, detail)


class JobInMemory:
    """A job's memory in dictionaries, for one process running one job at a time: no
    sealing, no history, and every lease free."""

    def __init__(self) -> None:
        self.artifacts: dict[str, bytes] = {}
        self.outputs: dict[Stage, str] = {}

    def stored(self) -> dict[str, tuple[bytes, bool]]:
        return {name: (data, False) for name, data in self.artifacts.items()}

    def open(self, data: bytes, sealed: bool) -> bytes:
        return data

    def seal(self, data: bytes) -> bytes:
        return data

    def put_all(self, values: Mapping[str, bytes], *, secret: bool = False) -> dict[str, bytes]:
        return {name: self.artifacts.setdefault(name, data) for name, data in values.items()}

    def output(self, stage: Stage) -> str | None:
        return self.outputs.get(stage)

    def acquire(self, key: str, stage: Stage, owner: str, lease: timedelta) -> bool:
        return True

    def release(self, key: str, owner: str) -> None:
        return None

    def note_now(self, kind: str, detail: Mapping[str, Any]) -> None:
        return None

    def record(self, stage: Stage, made: Sequence[Made], output: str) -> None:
        """What a run's outcome stores: its produced artifacts and its result."""
        for name, data, _sealed, replace in made:
            if replace:
                self.artifacts[name] = data
            else:
                self.artifacts.setdefault(name, data)
        self.outputs[stage] = output
