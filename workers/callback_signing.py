"""The CA callback's signature: ``X-Twoway-Timestamp`` and ``X-Twoway-Signature``.

The CA signs ``timestamp + "." + job id + "." + raw body`` with HMAC-SHA256 under the
shared secret of its CA profile and sends ``sha256=<hex>``. The job id (32 hex digits, as
in the request path) is signed so that a signature made for one job proves nothing for
another: sent to the wrong job it fails there, unused, and stays good for its own. The
gateway accepts a timestamp at most ``WINDOW_S`` seconds either side of its clock,
compares in constant time, and refuses a signature it has accepted before. Refusals never
show the secret or the expected value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from workers.errors import AuthenticationFailed, RequestInvalid

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WINDOW_S",
    "check_signature",
    "job_id_in",
    "sign",
    "signed_headers",
]

TIMESTAMP_HEADER = "X-Twoway-Timestamp"
SIGNATURE_HEADER = "X-Twoway-Signature"
WINDOW_S = 300
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_JOB_PATH = re.compile(r"/v1/jobs/([0-9a-f]{32})/ca-callback/?$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")  # ASCII digits only: str.isdigit() takes '²'
_HINT = (
    "sign timestamp + '.' + job id + '.' + the raw body with HMAC-SHA256 under the CA"
    " profile's secret"
)


def sign(secret: bytes, timestamp: str, body: bytes, *, job_id: str) -> str:
    """The ``X-Twoway-Signature`` value for ``body`` sent to job ``job_id`` at ``timestamp``."""
    signed = b".".join((timestamp.encode("ascii"), job_id.encode("ascii"), body))
    digest = hmac.new(secret, signed, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def job_id_in(url: str) -> str:
    """The job id in a callback URL (``.../v1/jobs/<id>/ca-callback``), which is signed."""
    match = _JOB_PATH.search(url.split("?", 1)[0])
    if match is None:
        raise RequestInvalid(
            f"{url!r} is not a callback URL",
            hint="a callback URL ends in /v1/jobs/<job id>/ca-callback",
        )
    return match.group(1)


def signed_headers(
    secret: bytes, body: bytes, *, job_id: str, now: float | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body, job_id=job_id),
        "Content-Type": "application/json",
    }


def check_signature(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    job_id: str,
    now: float | None = None,
) -> str:
    """Raise ``AuthenticationFailed`` saying what is wrong; return the normalised signature."""
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise AuthenticationFailed(f"{TIMESTAMP_HEADER} is missing or not Unix seconds", hint=_HINT)
    skew = int(timestamp) - int(time.time() if now is None else now)
    if abs(skew) > WINDOW_S:
        side = "behind" if skew < 0 else "ahead of"
        raise AuthenticationFailed(
            f"{TIMESTAMP_HEADER} is {abs(skew)} s {side} the gateway's clock; at most"
            f" {WINDOW_S} s are accepted",
            hint="send the callback with the current time (and check the CA host's clock)",
        )
    match = _SIGNATURE.fullmatch(signature or "")
    if match is None:
        raise AuthenticationFailed(
            f"{SIGNATURE_HEADER} is missing or not 'sha256=' and 64 hex digits", hint=_HINT
        )
    given = match.group(1).lower()
    expected = sign(secret, timestamp, body, job_id=job_id).removeprefix("sha256=")
    if not hmac.compare_digest(given, expected):
        raise AuthenticationFailed(
            f"{SIGNATURE_HEADER} does not match the job, body and timestamp",
            hint=_HINT + " (the body must be signed exactly as sent, for this job)",
        )
    return given
