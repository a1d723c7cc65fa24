"""Taking a job back to an earlier stage, inside the transition that moves it there.

Run as ``Store.transition(..., within=...)``: the recorded outputs of the replayed stages
(and, for a forced replay, the artifacts they made) disappear in the same transaction
that moves the job, so no delivery can see the job moved but its old results still there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from sqlalchemy import Connection

from messages import Stage
from workers.store.artifacts import write_artifacts_in
from workers.store.statements import DELETE_ARTIFACTS_NAMED, DELETE_OUTPUTS_OF, FORGET_CA_REQUEST

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
    written = [(name, data, False, True) for name, data in (write or {}).items()]
    dropped = sorted(set(artifacts))
    stages = sorted(stage.value for stage in outputs)

    def run(conn: Connection) -> None:
        if stages:
            conn.execute(DELETE_OUTPUTS_OF, {"job_id": job_id, "stages": stages})
        if dropped:
            conn.execute(DELETE_ARTIFACTS_NAMED, {"job_id": job_id, "names": dropped})
        write_artifacts_in(conn, job_id, written)
        if forget_ca_request:
            conn.execute(FORGET_CA_REQUEST, {"b_id": job_id})

    return run
