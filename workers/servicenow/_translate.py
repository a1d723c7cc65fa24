"""Turn HTTP answers and transport failures into twoway's error tree, once.

Nothing here puts a credential, a password or keystore bytes into a message: texts from
the instance are scrubbed of every secret the caller names before they are kept.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError

from workers.errors import (
    RateLimited,
    ServiceNowRejected,
    ServiceNowUnavailable,
    TwowayError,
)

__all__ = [
    "error_from_response",
    "maybe_sent",
    "parse_envelope",
    "retry_after_seconds",
    "scrub",
    "transport_error",
]

_HINTS: Mapping[int, str] = {
    400: "the instance refused the request as malformed; its detail says which part",
    401: "check the instance profile's credentials (user name, password, OAuth client)",
    403: (
        "the integration user needs the admin role, or an ACL, business rule or data"
        " policy refused the operation; ServiceNow's detail says which"
    ),
    404: "the record or table does not exist, or an ACL hides it from the integration user",
}
_DEFAULT_RETRY_AFTER_S = 1.0
_MAX_TEXT = 300


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced, cut to a readable length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def parse_envelope(resp: requests.Response) -> tuple[str, str]:
    """``(message, detail)`` of ServiceNow's error envelope, or the HTTP reason."""
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or ""), str(error.get("detail") or "")
    if isinstance(error, str):  # the OAuth endpoint answers {"error": ..., "error_description"}
        return error, str(body.get("error_description") or "")
    return resp.reason or "", ""


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float:
    """The wait a 429 asks for: ``Retry-After`` (seconds or HTTP date) or the rate reset.

    ``requests`` headers are case-insensitive; a plain mapping is searched without case.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    value = lowered.get("retry-after", "").strip()
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            return max(email.utils.parsedate_to_datetime(value).timestamp() - now, 0.0)
        except (ValueError, TypeError):
            pass
    reset = lowered.get("x-ratelimit-reset")
    if reset is not None:
        try:
            return max(float(reset.strip()) - now, 0.0)
        except ValueError:
            pass
    return _DEFAULT_RETRY_AFTER_S


def error_from_response(
    resp: requests.Response, what: str, secrets: Iterable[str] = ()
) -> TwowayError:
    """The error an HTTP status >= 400 stands for."""
    status = resp.status_code
    secrets = tuple(secrets)
    sn_message, sn_detail = (scrub(part, secrets) for part in parse_envelope(resp))
    text = f"ServiceNow answered {status} to {what}"
    if sn_message:
        text += f": {sn_message}"
    if status == 429:
        wait = retry_after_seconds(resp.headers)
        return RateLimited(
            f"{text}; asked to wait {wait:.1f}s",
            retry_after=wait,
            hint="the integration user hit a rate-limit rule; the job is retried after the wait",
        )
    if status >= 500:
        return ServiceNowUnavailable(
            text, status_code=status, hint="the instance failed; the call is retried later"
        )
    return ServiceNowRejected(
        text,
        status_code=status,
        sn_message=sn_message,
        sn_detail=sn_detail,
        hint=_HINTS.get(status, "the request must change before it can succeed"),
    )


def maybe_sent(exc: requests.RequestException) -> bool:
    """False only when the request surely never left: the connection was never made."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError) and not isinstance(
        exc, requests.exceptions.SSLError
    ):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        # urllib3's NewConnectionError (refused, DNS) derives from ConnectTimeoutError.
        return not isinstance(reason, ConnectTimeoutError)
    return True


def transport_error(exc: requests.RequestException, what: str) -> ServiceNowUnavailable:
    """The error a failure without an HTTP answer stands for (no URL or headers in it)."""
    if isinstance(exc, requests.exceptions.SSLError):
        kind, hint = "TLS failed", "check the instance URL and the CA bundle used to verify it"
    elif isinstance(exc, requests.Timeout):
        kind, hint = "timed out", "the instance is slow or unreachable; the call is retried"
    else:
        kind, hint = "connection failed", "the instance is unreachable; the call is retried"
    return ServiceNowUnavailable(f"{what}: {kind} ({type(exc).__name__})", hint=hint)
