"""Taking a job back to an earlier stage, inside the transition that moves it there.

Run as ``Store.transition(..., within=...)``: the recorded outputs of the replayed stages
(and, for a forced replay, the artifacts they made) disappear in the same transaction
that moves the job, so no delivery can see the job moved but its old results still there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy import Connection, update

from messages import Stage

from . import schema as t

__all__ = ["rewind"]


def rewind(
    job_id: str,
    *,
    outputs: Collection[Stage],
    artifacts: Collection[str] = (),
    forget_ca_request: bool = False,
) -> Callable[[Connection], None]:
    """What ``Store.transition(within=...)`` runs to forget results from a stage on."""

    def run(conn: Connection) -> None:
        if outputs:
            conn.execute(
                t.outputs.delete().where(
                    t.outputs.c.job_id == job_id, t.outputs.c.stage.in_([s.value for s in outputs])
                )
            )
        if artifacts:
            conn.execute(
                t.artifacts.delete().where(
                    t.artifacts.c.job_id == job_id, t.artifacts.c.name.in_(list(artifacts))
                )
            )
        if forget_ca_request:
            conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(ca_request_id=None))

    return run
