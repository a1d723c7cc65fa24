"""What the instance operations return: references to records, never secrets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from workers.servicenow.schemes import uses_profile_scheme

__all__ = [
    "ConfigurationSnapshot",
    "KeystoreRecord",
    "ProfileInUse",
    "ProfileRecord",
    "ProfileState",
    "TargetRef",
    "TrustRecord",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TargetRef(_Frozen):
    """A REST message (with its HTTP methods) or a SOAP message (with its functions)."""

    kind: Literal["rest", "soap"]
    table: str
    sys_id: str
    name: str
    endpoint: str
    method_table: str | None
    method_sys_ids: tuple[str, ...] = ()
    row_endpoints: dict[str, str] = {}  # sys_id -> its own endpoint ("" when it has none)

    def endpoint_of(self, sys_id: str) -> str:
        """The endpoint the message or method calls: its own, else the message's."""
        return self.row_endpoints.get(sys_id) or self.endpoint

    def through_scheme(self, protocol: str) -> frozenset[str]:
        """The message and methods whose endpoint's scheme names profile ``protocol``:
        they are on it whatever their mutual-auth checkbox says (servicenow-api.md 6.5)."""
        rows = (self.sys_id, *self.method_sys_ids)
        return frozenset(r for r in rows if uses_profile_scheme(self.endpoint_of(r), protocol))

    def table_of(self, sys_id: str) -> str:
        """The table holding ``sys_id``: the message's, or its methods'."""
        if sys_id == self.sys_id:
            return self.table
        if self.method_table is not None and sys_id in self.method_sys_ids:
            return self.method_table
        raise KeyError(f"{sys_id} is neither {self.name!r} nor one of its methods")


class KeystoreRecord(_Frozen):
    """The Java Key Store record, active, with exactly one attachment of this SHA-256."""

    sys_id: str
    attachment_sys_id: str
    sha256: str
    created: bool


class TrustRecord(_Frozen):
    """The Trust Store Cert record of the server certificate with this SHA-256."""

    sys_id: str
    sha256: str
    created: bool


class ProfileRecord(_Frozen):
    """The protocol profile; ``previous_keystore`` is set when a rotation moved it."""

    sys_id: str
    created: bool
    previous_keystore: str | None = None


class ProfileState(_Frozen):
    """A protocol profile as the instance stores it now (what rollback puts back)."""

    sys_id: str
    protocol: str
    default_port: str
    keystore: str


class ConfigurationSnapshot(_Frozen):
    """The records of one configuration as the instance stores them (None: not found).

    ``keystore_attachments`` and ``trust_attachments`` (a DER trust certificate) carry each
    attachment's ``hash``; ``mutual_auth`` maps the message's and each method's sys_id to
    its mutual-auth columns; ``load_errors`` are the syslog messages saying the keystore
    could not be loaded since it was last changed.
    """

    keystore_sys_id: str
    trust_sys_id: str
    profile_sys_id: str
    keystore: dict[str, Any] | None
    keystore_attachments: tuple[dict[str, Any], ...] = ()
    trust: dict[str, Any] | None
    trust_attachments: tuple[dict[str, Any], ...] = ()
    profile: dict[str, Any] | None
    target: TargetRef
    mutual_auth: dict[str, dict[str, str]]
    legacy_properties: tuple[str, ...] = ()
    load_errors: tuple[str, ...] = ()


class ProfileInUse(_Frozen):
    """A protocol profile a message (or some of its methods) uses for mutual auth now.

    ``protocol`` and ``keystore_name`` are empty when the record they name is gone;
    ``problem`` says why the profile cannot serve mutual auth (empty when it can)."""

    sys_id: str
    protocol: str
    keystore_sys_id: str
    keystore_name: str
    used_by: tuple[str, ...]
    problem: str = ""
