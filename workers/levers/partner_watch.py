"""The third party's server certificate, watched by the scheduler for the people who must
register its successor: ``partner_certificate_expiring`` when the registered one ends
within ``[notify] partner_expiring_days`` (once), ``partner_certificate_changed`` when
the endpoint of a job that fetched it by pin now presents another (once per new one).

Only jobs that fetched the certificate (``server_certificate.fetch``: a host that the
instance profile's ``fetch_hosts`` allowed) are probed; the others are known only by what
was given, and only its expiry is watched.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import structlog
from cryptography import x509

from workers.app import App
from workers.errors import TwowayError
from workers.pki import cert_to_der, fetch_server_certificate
from workers.store import JobRecord
from workers.store.artifacts import Artifact

__all__ = ["watch_partner"]

_log = structlog.get_logger("twoway.scheduler")


def watch_partner(app: App, job: JobRecord, now: datetime) -> list[str]:
    """The events noted for ``job``'s third party in this round (kinds)."""
    noted: list[str] = []
    registered = _registered_der(app, job)
    if registered is None:
        return noted
    history = app.store.history(job.id)
    certificate = x509.load_der_x509_certificate(registered)
    days = app.config.notify.partner_expiring_days
    ends = certificate.not_valid_after_utc
    if ends - now <= timedelta(days=days) and not any(
        e.kind == "partner_certificate_expiring" for e in history
    ):
        detail = {"subject": certificate.subject.rfc4514_string(), "not_after": ends.isoformat()}
        app.store.note(job.id, "partner_certificate_expiring", detail)
        noted.append("partner_certificate_expiring")
    fetch = job.request.server_certificate.fetch
    if fetch is None:
        return noted
    try:
        seen = fetch_server_certificate(fetch.host, fetch.port, timeout=5.0)
    except TwowayError as exc:
        _log.info("partner_certificate_unreadable", job_id=job.id, **exc.as_dict())
        return noted
    digest = hashlib.sha256(seen).hexdigest()
    known = {
        str(e.detail.get("sha256")) for e in history if e.kind == "partner_certificate_changed"
    }
    if digest != fetch.sha256 and digest not in known:
        detail = {
            "endpoint": f"{fetch.host}:{fetch.port}",
            "sha256": digest,
            "pinned": fetch.sha256,
        }
        app.store.note(job.id, "partner_certificate_changed", detail)
        noted.append("partner_certificate_changed")
    return noted


def _registered_der(app: App, job: JobRecord) -> bytes | None:
    stored = app.store.artifacts.get(job.id, Artifact.SERVER_CERTIFICATE)
    if stored is not None:
        return stored
    given = job.request.server_certificate
    if given.der_b64 is not None:
        return given.der_bytes()
    if given.pem is not None:
        return cert_to_der(x509.load_pem_x509_certificate(given.pem.encode()))
    return None
