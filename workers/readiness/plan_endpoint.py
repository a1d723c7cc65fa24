"""Does the message's endpoint answer from twoway's host? With ``enable.prove_first`` (the
default) the job handshakes with it before the switch; an endpoint twoway cannot reach
means the job would retry ``enable`` until it gives up, so ``plan`` says so up front."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from messages import JobRequest
from workers.errors import VerificationFailed
from workers.servicenow.schemes import called_url

__all__ = ["endpoint_refusal", "endpoint_unreachable"]

CONNECT_TIMEOUT_S = 3.0


def endpoint_unreachable(endpoint: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why a TCP connection to ``endpoint`` fails (None: it answers, or has no host)."""
    parts = urlsplit(endpoint)
    if not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"{endpoint!r} names no valid port"
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
    except OSError as exc:
        return type(exc).__name__ + (f": {exc.strerror}" if exc.strerror else "")
    return None


def endpoint_refusal(request: JobRequest, endpoint: str) -> VerificationFailed | None:
    """The refusal when the endpoint does not answer and the job would prove against it."""
    if not endpoint or not request.enable.prove_first:
        return None
    spec = request.protocol_profile
    why = endpoint_unreachable(called_url(endpoint, spec.name, spec.port))
    if why is None:
        return None
    return VerificationFailed(
        f"the message's endpoint {endpoint} does not answer from twoway ({why}): with"
        " enable.prove_first the job proves the keystore against it before the switch,"
        " and would retry 'enable' until it gives up",
        check="endpoint_reachable",
        hint="check the endpoint URL and any firewall between twoway and the third party;"
        ' or set "enable": {"prove_first": false} to switch without the proof',
    )
