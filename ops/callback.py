"""The CA callback's signature: ``X-Twoway-Timestamp`` and ``X-Twoway-Signature``.

The CA signs ``timestamp + "." + raw body`` with HMAC-SHA256 under the shared secret of
its CA profile and sends ``sha256=<hex>``. The gateway accepts a timestamp at most
``WINDOW_S`` seconds either side of its clock, compares in constant time, and refuses a
signature it has accepted before. Refusals never show the secret or the expected value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from workers.errors import AuthenticationFailed

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WINDOW_S",
    "check_signature",
    "sign",
    "signed_headers",
]

TIMESTAMP_HEADER = "X-Twoway-Timestamp"
SIGNATURE_HEADER = "X-Twoway-Signature"
WINDOW_S = 300
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")  # ASCII digits only: str.isdigit() takes '²'
_HINT = "sign timestamp + '.' + the raw body with HMAC-SHA256 under the CA profile's secret"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Twoway-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signed_headers(secret: bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }


def check_signature(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
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
    expected = sign(secret, timestamp, body).removeprefix("sha256=")
    if not hmac.compare_digest(given, expected):
        raise AuthenticationFailed(
            f"{SIGNATURE_HEADER} does not match the body and timestamp",
            hint=_HINT + " (the body must be signed exactly as sent)",
        )
    return given
