"""ServiceNow integration: a Table/Attachment API client, discovery, and the runbook steps.

Layers, lowest first:

- ``ServiceNowClient``: HTTP with timeouts, error translation and safe retries;
- ``discover`` / ``FactsCache``: the instance's choice values and column names;
- ``Instance``: idempotent operations (``ensure_*``, enable/restore, read/check) that
  stage cores call without touching HTTP.
"""

from ._transport import CallGate
from .auth import BasicAuth, CallRecord, OAuthPassword
from .client import ServiceNowClient
from .facts import FactsCache, InstanceFacts, discover
from .instance import Instance
from .models import (
    ConfigurationSnapshot,
    KeystoreRecord,
    ProfileRecord,
    ProfileState,
    TargetRef,
    TrustRecord,
)

__all__ = [
    "BasicAuth",
    "CallGate",
    "CallRecord",
    "ConfigurationSnapshot",
    "FactsCache",
    "Instance",
    "InstanceFacts",
    "KeystoreRecord",
    "OAuthPassword",
    "ProfileRecord",
    "ProfileState",
    "ServiceNowClient",
    "TargetRef",
    "TrustRecord",
    "discover",
]
