"""Whether a CA revoked one of our certificates behind twoway's back (the scheduler asks)."""

from __future__ import annotations

import structlog

from workers.app import App
from workers.ca.base import RevocableCa
from workers.errors import TwowayError
from workers.levers.renewal import ManagedCertificate
from workers.store.artifacts import Artifact

__all__ = ["revoked_at_ca"]

_log = structlog.get_logger("twoway.scheduler")


def revoked_at_ca(app: App, cert: ManagedCertificate) -> bool:
    """True only when the CA says the certificate is revoked; a CA that cannot say, or
    cannot be asked right now, counts as not (asked again next round)."""
    profile = app.store.get_job(cert.job_id).request.ca.profile
    pem = app.store.artifacts.get(cert.job_id, Artifact.CERTIFICATE)
    chain = app.store.artifacts.get(cert.job_id, Artifact.CA_CHAIN_PEM) or b""
    try:
        adapter = app.deps.cas.get(profile)
        if pem is None or not isinstance(adapter, RevocableCa):
            return False
        return adapter.revoked(pem, chain) is True
    except TwowayError as exc:
        _log.warning("revocation_status_unknown", job_id=cert.job_id, **exc.as_dict())
        return False
