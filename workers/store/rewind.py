"""Taking a job back to an earlier stage, inside the transition that moves it there.

Run as ``Store.transition(..., within=...)``: the recorded outputs of the replayed stages
(and, for a forced replay, the artifacts they made) disappear in the same transaction
that moves the job, so no delivery can see the job moved but its old results still there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, update

from messages import Stage

from . import schema as t

__all__ = ["rewind"]


def rewind(
    job_id: str,
    *,
    outputs: Collection[Stage],
    artifacts: Collection[str] = (),
    forget_ca_request: bool = False,
    write: Mapping[str, bytes] | None = None,
) -> Callable[[Connection], None]:
    """What ``Store.transition(within=...)`` runs to forget results from a stage on.

    ``artifacts`` are deleted, then ``write`` (plain, never secret artifacts) is stored.
    """
    written = dict(write or {})
    dropped = sorted({*artifacts, *written})

    def run(conn: Connection) -> None:
        if outputs:
            conn.execute(
                t.outputs.delete().where(
                    t.outputs.c.job_id == job_id, t.outputs.c.stage.in_([s.value for s in outputs])
                )
            )
        if dropped:
            conn.execute(
                t.artifacts.delete().where(
                    t.artifacts.c.job_id == job_id, t.artifacts.c.name.in_(dropped)
                )
            )
        for name, data in written.items():
            conn.execute(
                insert(t.artifacts).values(
                    job_id=job_id, name=name, data=data, sealed=False, created_at=datetime.now(UTC)
                )
            )
        if forget_ca_request:
            conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(ca_request_id=None))

    return run
