"""ServiceNow integration: a Table/Attachment API client, discovery, and the runbook steps.

Layers, lowest first:

- ``ServiceNowClient``: HTTP with timeouts, error translation and safe retries;
- ``discover`` / ``FactsCache``: the instance's choice values and column names;
- ``Instance``: idempotent operations (``ensure_*``, enable/restore, read/check) that
  stage cores call without touching HTTP;
- ``tables``: the name of each table twoway reads and writes.
"""

from workers.servicenow import tables
from workers.servicenow._transport import CallGate
from workers.servicenow.auth import BasicAuth, CallRecord, OAuthPassword
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import FactsCache, InstanceFacts, discover
from workers.servicenow.instance import Instance
from workers.servicenow.models import (
    ConfigurationSnapshot,
    KeystoreRecord,
    ProfileInUse,
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
    "ProfileInUse",
    "ProfileRecord",
    "ProfileState",
    "ServiceNowClient",
    "TargetRef",
    "TrustRecord",
    "discover",
    "tables",
]
