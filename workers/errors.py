"""Every error twoway raises, in one tree.

    TwowayError
    +-- ConfigError                 a bad pipeline.toml, environment or key file (at start-up)
    +-- JobNotFound                 no job with that id
    +-- InstanceNotFound            no instance profile of that name
    +-- StateConflict               a compare-and-set on a job's state lost (someone else moved it)
    +-- IdempotencyConflict         an Idempotency-Key reused with a different request
    +-- AuthenticationFailed        no bearer token, or one that is unknown or revoked
    +-- PermissionDenied            a valid token whose role does not allow the operation
    +-- ReplayRefused               a signed request that was already used once (a CA callback)
    +-- TooManyRefusals             too many refused attempts from one client or at one job (429)
    +-- PermanentError              never retried: fails the job at its stage
    |   +-- RequestInvalid          a job request, callback or resume that does not validate
    |   |   +-- TakeOverRefused     the message already uses another profile; no "replace"
    |   +-- CertificateRejected     an issued certificate or chain that fails a check
    |   +-- CaRejected              the CA refused the CSR            (.request_id)
    |   +-- ServiceNowRejected      400/401/403/404 from the instance
    |                               (.status_code, .sn_message, .sn_detail)
    |   +-- ServiceNowConflict      the instance holds something that contradicts the job
    |   +-- VerificationFailed      a verify check failed             (.check)
    |   +-- NotificationRefused     a webhook (4xx) or mail server (5xx) refused a notice
    +-- TransientError              retried with bounded backoff
        +-- CaUnavailable           the CA did not answer, or answered 5xx
        |   +-- CaRateLimited       the CA asked to wait               (.retry_after seconds)
        +-- ServiceNowUnavailable   5xx, timeout, reset                (.status_code)
            +-- RateLimited         429                                (.retry_after seconds)
        +-- NotificationUndelivered a webhook or mail server was down or timed out
        +-- InstanceBusy            every call slot of the instance is taken (.instance);
                                    the message goes back to the broker for a moment,
                                    not counted as a retry
        +-- StoreUnavailable        the database connection was lost in a write (failover)

Integrations translate their low-level failures into this tree once, at their boundary,
with ``raise ... from exc``. Every message is written for the person who must act on it
and never contains key material, passwords or credentials; ``hint`` says what to do.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "CaRateLimited",
    "CaRejected",
    "CaUnavailable",
    "CertificateRejected",
    "ConfigError",
    "IdempotencyConflict",
    "InstanceBusy",
    "InstanceNotFound",
    "JobNotFound",
    "NotificationRefused",
    "NotificationUndelivered",
    "PermanentError",
    "PermissionDenied",
    "RateLimited",
    "ReplayRefused",
    "RequestInvalid",
    "ServiceNowConflict",
    "ServiceNowRejected",
    "ServiceNowUnavailable",
    "StateConflict",
    "StoreUnavailable",
    "TakeOverRefused",
    "TooManyRefusals",
    "TransientError",
    "TwowayError",
    "VerificationFailed",
]


class TwowayError(Exception):
    """Root of every twoway error. ``hint`` tells a person what to do about it."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def as_dict(self) -> dict[str, object]:
        """What a job's history and an API answer show of this error."""
        out: dict[str, object] = {"error": type(self).__name__, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out


class ConfigError(TwowayError):
    """pipeline.toml, the environment or a key file is wrong; raised at start-up."""


class JobNotFound(TwowayError):
    """No job with the given id exists in the store."""


class InstanceNotFound(TwowayError):
    """No instance profile of the given name in pipeline.toml."""


class StateConflict(TwowayError):
    """A job was not in the state a transition expected; someone else moved it first."""


class IdempotencyConflict(TwowayError):
    """An Idempotency-Key that was already used for a different job request."""


class AuthenticationFailed(TwowayError):
    """No bearer token, or one that is malformed, unknown or revoked (HTTP 401)."""


class PermissionDenied(TwowayError):
    """The token is valid but its role does not allow the operation (HTTP 403)."""


class TooManyRefusals(TwowayError):
    """Too many refused attempts from one client or at one job, lately (HTTP 429)."""


class ReplayRefused(TwowayError):
    """A signed request that was already accepted once (a replayed CA callback)."""


class PermanentError(TwowayError):
    """Retrying cannot help: the job fails at its stage with this message."""


class RequestInvalid(PermanentError):
    """A job request, callback or operator command that does not validate."""


class TakeOverRefused(RequestInvalid):
    """The target message already uses mutual auth with another profile, and the request
    does not say ``replace``: a working integration is never taken over silently."""


class CertificateRejected(PermanentError):
    """An issued certificate or chain failed a check (key, chain, validity, EKU, subject)."""


class CaRejected(PermanentError):
    """The CA refused the signing request."""

    def __init__(self, message: str, *, hint: str = "", request_id: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.request_id = request_id

    def as_dict(self) -> dict[str, object]:
        out = super().as_dict()
        if self.request_id:
            out["request_id"] = self.request_id
        return out


class ServiceNowRejected(PermanentError):
    """The instance answered 400, 401, 403 or 404: the request itself must change."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        sn_message: str = "",
        sn_detail: str = "",
        hint: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.sn_message = sn_message
        self.sn_detail = sn_detail

    def as_dict(self) -> dict[str, object]:
        out = super().as_dict()
        out.update(
            status_code=self.status_code, sn_message=self.sn_message, sn_detail=self.sn_detail
        )
        return out


class ServiceNowConflict(PermanentError):
    """The instance holds a record that contradicts the job (a profile bound elsewhere)."""


class VerificationFailed(PermanentError):
    """A ``verify`` check failed; ``check`` names which one."""

    def __init__(self, message: str, *, check: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.check = check

    def as_dict(self) -> dict[str, object]:
        out = super().as_dict()
        out["check"] = self.check
        return out


class NotificationRefused(PermanentError):
    """A webhook receiver or mail server refused a notification; retrying will not help."""


class TransientError(TwowayError):
    """Worth retrying with bounded backoff: a connection, timeout or overload."""


class NotificationUndelivered(TransientError):
    """A webhook receiver or mail server could not be reached, or failed (5xx, 4xx SMTP)."""


class StoreUnavailable(TransientError):
    """The store's connection was lost inside a write transaction (a failover, a cut).

    Not retried where it happened: the transaction may or may not have committed (the
    commit itself can be what was lost). The caller's own retry is what is safe: a stage
    runs again (stages are idempotent), an API request answers 503 and may be repeated
    with its Idempotency-Key.
    """


class CaUnavailable(TransientError):
    """The CA could not be reached or answered with a server error."""


class CaRateLimited(CaUnavailable):
    """The CA asked us to come back later; ``retry_after`` is the wait, in seconds."""

    def __init__(self, message: str, *, retry_after: float, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ServiceNowUnavailable(TransientError):
    """The instance could not be reached, timed out, reset, or answered 5xx."""

    def __init__(self, message: str, *, status_code: int | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code


class RateLimited(ServiceNowUnavailable):
    """The instance answered 429; ``retry_after`` is the wait it asked for, in seconds."""

    def __init__(self, message: str, *, retry_after: float, hint: str = "") -> None:
        super().__init__(message, status_code=429, hint=hint)
        self.retry_after = retry_after


class InstanceBusy(TransientError):
    """Every call slot of ``instance`` (its ``max_concurrent_calls``) is taken.

    Not a failure: the runtime gives the message back to the broker with a short delay,
    and the attempt is not counted against the stage's ``max_retries``.
    """

    def __init__(self, instance: str, *, limit: int, retry_in_s: float) -> None:
        super().__init__(
            f"instance {instance!r} has all its {limit} call slots in use",
            hint="the stage runs again shortly; raise max_concurrent_calls only if the"
            " instance can take more calls at once",
        )
        self.instance = instance
        self.limit = limit
        self.retry_in_s = retry_in_s
