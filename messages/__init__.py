"""The contract between twoway's parts: the job request, stage messages and events.

This package imports nothing else of twoway's. Messages hold ids and references, never
key material or passwords.
"""

from ._base import Message
from .events import TERMINAL_STATES, WAITING_STATES, JobEvent, JobState, Stage
from .job import (
    CaChoice,
    EnableSpec,
    JobRequest,
    KeySpec,
    KeystoreFormat,
    KeystoreSpec,
    KeyType,
    ProtocolProfileSpec,
    ServerCertificate,
    ServerFetch,
    SubjectName,
    Target,
    TargetKind,
)
from .stages import (
    CertificateIssued,
    ChainImported,
    CsrCreated,
    JobAccepted,
    JobVerified,
    KeyGenerated,
    KeystoreUploaded,
    MutualAuthEnabled,
    ProfileCreated,
    StageMessage,
    TrustRegistered,
)

__all__ = [
    "TERMINAL_STATES",
    "WAITING_STATES",
    "CaChoice",
    "CertificateIssued",
    "ChainImported",
    "CsrCreated",
    "EnableSpec",
    "JobAccepted",
    "JobEvent",
    "JobRequest",
    "JobState",
    "JobVerified",
    "KeyGenerated",
    "KeySpec",
    "KeyType",
    "KeystoreFormat",
    "KeystoreSpec",
    "KeystoreUploaded",
    "Message",
    "MutualAuthEnabled",
    "ProfileCreated",
    "ProtocolProfileSpec",
    "ServerCertificate",
    "ServerFetch",
    "Stage",
    "StageMessage",
    "SubjectName",
    "Target",
    "TargetKind",
    "TrustRegistered",
]
