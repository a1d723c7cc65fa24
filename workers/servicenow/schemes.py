"""A protocol profile's name is a URL scheme (servicenow-api.md 3 and 6.5, CONFIRMED):
an endpoint written ``mauth://host/path`` is called over HTTPS with mutual auth through
the profile named ``mauth``, whether or not the message's "Use mutual authentication" is
ticked. Discovery, the stages and rollback decide "on this profile through its scheme"
here, and turn such an endpoint into the HTTPS URL the instance really calls.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["called_url", "custom_scheme", "https_url", "uses_profile_scheme"]

_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://")
_PLAIN = frozenset({"http", "https"})


def custom_scheme(endpoint: str) -> str | None:
    """The endpoint's scheme, lower case, when it is neither http nor https (so it can
    only name a protocol profile); None for http(s), variables and the empty string."""
    match = _SCHEME.match(endpoint or "")
    scheme = match.group(1).lower() if match else None
    return None if scheme is None or scheme in _PLAIN else scheme


def uses_profile_scheme(endpoint: str, protocol: str) -> bool:
    """The endpoint's scheme names profile ``protocol`` (compared case-insensitively)."""
    scheme = custom_scheme(endpoint)
    return scheme is not None and scheme == protocol.strip().lower()


def https_url(endpoint: str, default_port: int | str | None = None) -> str:
    """What the instance calls for ``endpoint``: a profile scheme stands for https, on the
    endpoint's port, else the profile's default port, else 443. Other endpoints unchanged."""
    if custom_scheme(endpoint) is None:
        return endpoint
    parts = urlsplit(endpoint.strip())
    try:
        port = parts.port
    except ValueError:
        return endpoint  # what it is: the TLS layer says so
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = str(default_port or "")
    wanted = port or (int(default) if default.isdigit() and 0 < int(default) < 65536 else 443)
    netloc = host if wanted == 443 else f"{host}:{wanted}"
    return urlunsplit(("https", netloc, parts.path, parts.query, parts.fragment))


def called_url(endpoint: str, protocol: str, port: int | str | None) -> str:
    """What the instance calls for ``endpoint`` when a job's profile is ``protocol`` on
    ``port``: that port is the default only when the endpoint's scheme names the profile."""
    return https_url(endpoint, port if uses_profile_scheme(endpoint, protocol) else None)
