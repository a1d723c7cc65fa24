"""The partners' endpoints as twoway sees them: the server certificate each presents, and
which Trust Store Certs anchor it. Only endpoints on hosts the instance profile's
``fetch_hosts`` allow are reached (the list that pinned fetches use)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from workers.errors import TwowayError
from workers.estate.certificates import from_certificate
from workers.estate.model import PartnerProbe
from workers.pki import fetch_server_certificate
from workers.readiness.admission import fetch_allowed

__all__ = ["anchors", "probe_partners"]


def anchors(presented: x509.Certificate, trust: x509.Certificate) -> bool:
    """``trust`` is the presented certificate itself, or the CA that signed it."""
    if trust == presented:
        return True
    if trust.subject != presented.issuer:
        return False
    try:
        presented.verify_directly_issued_by(trust)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _host_port(endpoint: str) -> tuple[str, int] | None:
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not parts.hostname:
        return None
    try:
        return parts.hostname, parts.port or 443
    except ValueError:
        return None


def _probe(
    endpoint: str,
    url: str,
    allowed: Sequence[str],
    trusts: dict[str, x509.Certificate],
    timeout: float,
) -> PartnerProbe:
    where = _host_port(url)
    if where is None:
        return PartnerProbe(endpoint=endpoint, probed=False, reason="not an https:// URL")
    host, port = where
    if not any(fetch_allowed(pattern, host, port) for pattern in allowed):
        reason = f"{host}:{port} is not in the instance profile's fetch_hosts"
        return PartnerProbe(endpoint=endpoint, probed=False, reason=reason)
    try:
        der = fetch_server_certificate(host, port, timeout=timeout)
    except TwowayError as exc:
        return PartnerProbe(endpoint=endpoint, probed=False, reason=exc.message)
    presented = x509.load_der_x509_certificate(der)
    trusted_by = sorted(sys_id for sys_id, c in trusts.items() if anchors(presented, c))
    facts = from_certificate(presented, source="pem")
    return PartnerProbe(endpoint=endpoint, probed=True, presented=facts, trusted_by=trusted_by)


def probe_partners(
    endpoints: Sequence[str],
    allowed: Sequence[str],
    trusts: dict[str, x509.Certificate],
    *,
    calls: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> list[PartnerProbe]:
    """One probe per distinct endpoint (host and port), in the order given. ``calls``:
    the URL the instance calls for an endpoint (``mauth://host`` is https to host,
    workers/servicenow/schemes.py); an endpoint not in it is called as written."""
    seen: dict[tuple[str, int] | str, PartnerProbe] = {}
    out: list[PartnerProbe] = []
    for endpoint in endpoints:
        url = (calls or {}).get(endpoint, endpoint)
        key: tuple[str, int] | str = _host_port(url) or endpoint
        if key not in seen:
            seen[key] = _probe(endpoint, url, allowed, trusts, timeout)
        probe = seen[key]
        out.append(
            probe if probe.endpoint == endpoint else probe.model_copy(update={"endpoint": endpoint})
        )
    return out
