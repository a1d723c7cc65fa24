"""The HTTP status of each kind of twoway error: one table, read by the gateway's answers
(:mod:`ops.gateway.errors`) and by the CLI, whose exit code for an error raised in its own
process is the one the gateway's answer to that error would give (docs/api.md).

It imports only the error tree, so that the CLI can read it without starting FastAPI.
"""

from __future__ import annotations

from workers.errors import (
    AuthenticationFailed,
    CertificateRejected,
    ConfigError,
    IdempotencyConflict,
    InstanceNotFound,
    JobNotFound,
    PermanentError,
    PermissionDenied,
    ReplayRefused,
    RequestInvalid,
    StateConflict,
    TakeOverRefused,
    TooManyRefusals,
    TransientError,
    TwowayError,
)

__all__ = ["status_for"]

# First match wins: a subclass comes before its parent.
_STATUS: list[tuple[type[TwowayError], int]] = [
    (JobNotFound, 404),
    (InstanceNotFound, 404),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (TooManyRefusals, 429),
    (ReplayRefused, 409),
    (IdempotencyConflict, 409),
    (StateConflict, 409),
    # what the instance holds (a message on another profile) conflicts with the request
    (TakeOverRefused, 409),
    (CertificateRejected, 422),
    (RequestInvalid, 400),
    (PermanentError, 422),
    (TransientError, 503),
    (ConfigError, 500),
]


def status_for(exc: TwowayError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500
