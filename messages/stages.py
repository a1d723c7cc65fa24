"""One message per stage boundary: the fact a stage established, for the next to act on.

Messages carry the job id and references (sys_ids, SHA-256 fingerprints), never key
material or passwords: the artifacts themselves stay in the store.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ._base import Message

__all__ = [
    "CertificateIssued",
    "ChainImported",
    "CsrCreated",
    "JobAccepted",
    "JobVerified",
    "KeyGenerated",
    "KeystoreUploaded",
    "MutualAuthEnabled",
    "ProfileCreated",
    "StageMessage",
    "TrustRegistered",
]

JobId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
SysId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class StageMessage(Message):
    job_id: JobId


class JobAccepted(StageMessage):
    """A valid job is in the store; ``generate`` makes its key."""


class KeyGenerated(StageMessage):
    """The job's key pair exists (stored encrypted); ``csr`` signs a request with it."""

    public_key_sha256: Sha256


class CsrCreated(StageMessage):
    """The PKCS#10 request is stored; ``wait-for-ca`` takes it to the CA."""

    csr_sha256: Sha256


class CertificateIssued(StageMessage):
    """The CA signed; ``import-chain`` checks the certificate and builds the keystore."""

    certificate_sha256: Sha256


class ChainImported(StageMessage):
    """The JKS is assembled and stored; ``upload-keystore`` puts it on the instance."""

    certificate_sha256: Sha256
    keystore_sha256: Sha256


class KeystoreUploaded(StageMessage):
    """The Java Key Store record is active with the keystore attached."""

    keystore_sys_id: SysId
    attachment_sys_id: SysId
    keystore_sha256: Sha256


class TrustRegistered(StageMessage):
    """The third party's server certificate is a Trust Store Cert record."""

    keystore_sys_id: SysId
    trust_sys_id: SysId
    trust_sha256: Sha256


class ProfileCreated(StageMessage):
    """The Protocol Profile points at the keystore record."""

    keystore_sys_id: SysId
    trust_sys_id: SysId
    profile_sys_id: SysId
    protocol: str


class MutualAuthEnabled(StageMessage):
    """The target message (and each of its methods) uses mutual auth with the profile."""

    profile_sys_id: SysId
    target_table: str
    target_sys_id: SysId
    method_sys_ids: list[SysId] = []


class JobVerified(StageMessage):
    """Everything reads back consistently and the mTLS handshake succeeded."""

    handshake_protocol: str
    server_sha256: Sha256
