"""What an instance stores for the facts servicenow-api.md is unsure of, read at runtime.

Choice values are matched by their label (CONFIRMED) to get the stored value (LIKELY or
UNCERTAIN); column types and names come from ``sys_dictionary``; legacy settings from
``sys_properties`` (servicenow-api.md 1.3, 1.4, 4.4, 6.3 and 8). Nothing is hard-coded
that an instance could answer differently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict

from workers.errors import ConfigError
from workers.servicenow.client import ServiceNowClient

__all__ = [
    "ATTACHMENT_ROLE",
    "MIME_VALIDATION",
    "FactsCache",
    "InstanceFacts",
    "choices",
    "discover",
    "legacy_protocol_properties",
    "password_type",
    "soap_columns",
]

ENCRYPTED_TYPES = frozenset({"password2"})
MIME_VALIDATION = "glide.security.file.mime_type.validation"
ATTACHMENT_ROLE = "glide.attachment.role"
LEGACY_PREFIX = "glide.httpclient.protocol."
_PROFILE_TABLE = "sys_protocol_profile"


class InstanceFacts(BaseModel):
    """One instance's answers; stage code reads these instead of literals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keystore_type: str
    trust_type: str
    pkcs12_type: str | None
    format_pem: str
    format_der: str
    password_internal_type: str
    soap_mutual_auth_column: str | None
    soap_profile_column: str | None
    soap_function_table: str | None
    soap_function_parent_column: str | None = None
    soap_function_columns: tuple[str, ...] = ()  # (mutual-auth column, profile column) or ()
    auth_inherit_value: str | None
    auth_oauth_value: str | None = None
    legacy_protocol_properties: tuple[str, ...] = ()
    attachment_extensions: tuple[str, ...] = ()
    mime_type_validation: bool = True  # the platform's default (servicenow-api.md 10)
    attachment_roles: tuple[str, ...] = ()

    @property
    def password_encrypted(self) -> bool:
        """Whether ``key_store_password`` must be written with sysparm_input_display_value."""
        return self.password_internal_type in ENCRYPTED_TYPES

    @property
    def keystore_types(self) -> frozenset[str]:
        """Types a protocol profile accepts as its keystore (servicenow-api.md 3)."""
        return frozenset(t for t in (self.keystore_type, self.pkcs12_type) if t)

    def extension_allowed(self, file_name: str) -> bool:
        """Whether ``glide.attachment.extensions`` lets a file of this name be attached."""
        if not self.attachment_extensions:
            return True
        return _extension(file_name) in self.attachment_extensions

    def mime_check_refuses(self, file_name: str) -> bool:
        """Whether MIME validation refuses a keystore of this name: it checks the files
        whose extension ``glide.attachment.extensions`` lists, and a keystore's content has
        no MIME type of its own to match (servicenow-api.md 10; docs/servicenow.md)."""
        listed = _extension(file_name) in self.attachment_extensions
        return self.mime_type_validation and listed

    def may_attach(self, roles: tuple[str, ...] | None) -> bool | None:
        """Whether a user with ``roles`` may attach under ``glide.attachment.role`` (None:
        roles unknown). Admin passes every role check, as on the platform."""
        if not self.attachment_roles:
            return True
        if roles is None:
            return None
        return "admin" in roles or any(role in roles for role in self.attachment_roles)


def _extension(file_name: str) -> str:
    return PurePosixPath(file_name).suffix.lstrip(".").lower()


def discover(client: ServiceNowClient) -> InstanceFacts:
    """Read the instance's choices, dictionary and properties; fail saying what is missing."""
    types = _choices(client, "sys_certificate", "type")
    formats = _choices(client, "sys_certificate", "format")
    auth = _choices(client, "sys_rest_message_fn", "authentication_type")
    soap_mutual, soap_profile = _mutual_columns(client, "sys_soap_message")
    function_table, parent_column, function_columns = _soap_functions(client)
    return InstanceFacts(
        keystore_type=_require(types, "Java Key Store", "sys_certificate.type"),
        trust_type=_require(types, "Trust Store Cert", "sys_certificate.type"),
        pkcs12_type=_lookup(types, "PKCS12 Key Store"),
        format_pem=_require(formats, "PEM", "sys_certificate.format"),
        format_der=_require(formats, "DER", "sys_certificate.format"),
        password_internal_type=_password_type(client),
        soap_mutual_auth_column=soap_mutual,
        soap_profile_column=soap_profile,
        soap_function_table=function_table,
        soap_function_parent_column=parent_column,
        soap_function_columns=function_columns,
        auth_inherit_value=_lookup(auth, "Inherit from parent"),
        auth_oauth_value=_lookup(auth, "OAuth 2.0"),
        legacy_protocol_properties=legacy_protocol_properties(client),
        attachment_extensions=_attachment_extensions(client),
        mime_type_validation=_property(client, MIME_VALIDATION, "true").lower() != "false",
        attachment_roles=_listed(_property(client, ATTACHMENT_ROLE, "")),
    )


def legacy_protocol_properties(client: ServiceNowClient, protocol: str = "") -> tuple[str, ...]:
    """Names of ``glide.httpclient.protocol.<protocol>*`` properties (3; KB0824494)."""
    prefix = LEGACY_PREFIX + (f"{protocol}." if protocol else "")
    rows = client.query("sys_properties", encoded=f"nameSTARTSWITH{prefix}", fields=("name",))
    return tuple(
        sorted({str(r["name"]) for r in rows if str(r.get("name", "")).startswith(prefix)})
    )


def _choices(client: ServiceNowClient, table: str, element: str) -> dict[str, str]:
    """label -> stored value of the active English choices of ``table.element``."""
    rows = client.query(
        "sys_choice",
        {"name": table, "element": element, "language": "en", "inactive": "false"},
        fields=("value", "label"),
    )
    return {str(r.get("label", "")).strip().casefold(): str(r.get("value", "")) for r in rows}


def _lookup(choices: Mapping[str, str], label: str) -> str | None:
    return choices.get(label.casefold()) or None


def _require(choices: Mapping[str, str], label: str, what: str) -> str:
    value = _lookup(choices, label)
    if value is None:
        raise ConfigError(
            f"the instance offers no '{label}' choice for {what}",
            hint=(
                f"check System Definition > Choice Lists for {what} (an active choice labelled"
                f" '{label}', language en) and that the integration user can read sys_choice"
            ),
        )
    return value


def _password_type(client: ServiceNowClient) -> str:
    rows = client.query(
        "sys_dictionary",
        {"name": "sys_certificate", "element": "key_store_password"},
        fields=("internal_type",),
    )
    if not rows or not rows[0].get("internal_type"):
        raise ConfigError(
            "sys_dictionary has no column sys_certificate.key_store_password",
            hint="the integration user must be able to read sys_dictionary (admin role)",
        )
    return str(rows[0]["internal_type"])


def _mutual_columns(client: ServiceNowClient, table: str) -> tuple[str | None, str | None]:
    """``table``'s mutual-auth boolean and its reference to sys_protocol_profile."""
    rows = client.query(
        "sys_dictionary",
        {"name": table},
        encoded="elementLIKEmutual^ORelementLIKEprotocol",
        fields=("element", "internal_type", "reference"),
    )
    mutual = profile = None
    for row in sorted(rows, key=lambda r: str(r.get("element", ""))):
        element, kind = str(row.get("element", "")), str(row.get("internal_type", ""))
        if "mutual" in element and kind == "boolean" and mutual is None:
            mutual = element
        points_at_profile = row.get("reference") in (None, "", _PROFILE_TABLE)
        if "protocol" in element and kind == "reference" and points_at_profile and not profile:
            profile = element
    return mutual, profile


def _soap_functions(
    client: ServiceNowClient,
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """The table of SOAP functions, its column pointing at the message, its mTLS columns."""
    refs = client.query(
        "sys_dictionary",
        {"internal_type": "reference", "reference": "sys_soap_message"},
        fields=("name", "element"),
    )
    candidates = sorted(
        {(str(r["name"]), str(r["element"])) for r in refs if r.get("name") and r.get("element")}
    )
    best: tuple[str | None, str | None, tuple[str, ...]] = (None, None, ())
    for table, parent in candidates:
        mutual, profile = _mutual_columns(client, table)
        if mutual and profile:
            return table, parent, (mutual, profile)
        if best[0] is None and "function" in table:
            best = (table, parent, ())
    return best


def _property(client: ServiceNowClient, name: str, default: str) -> str:
    rows = client.query("sys_properties", {"name": name}, fields=("value",))
    value = str(rows[0].get("value", "")).strip() if rows else ""
    return value or default


def _listed(value: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in value.split(",") if e.strip())


def _attachment_extensions(client: ServiceNowClient) -> tuple[str, ...]:
    value = _property(client, "glide.attachment.extensions", "")
    return tuple(e.lstrip(".").lower() for e in _listed(value))


def choices(client: ServiceNowClient, table: str, element: str) -> dict[str, str]:
    """casefolded label -> stored value of ``table.element``'s active English choices."""
    return _choices(client, table, element)


def password_type(client: ServiceNowClient) -> str:
    """The internal type of sys_certificate.key_store_password (ConfigError if unknown)."""
    return _password_type(client)


def soap_columns(client: ServiceNowClient) -> dict[str, object]:
    """The SOAP facts discovery finds: message columns, function table, its columns."""
    mutual, profile = _mutual_columns(client, "sys_soap_message")
    table, _parent, columns = _soap_functions(client)
    return {
        "sys_soap_message mutual-auth column": mutual,
        "sys_soap_message profile column": profile,
        "SOAP function table": table,
        "SOAP function columns": columns or None,
    }


class FactsCache:
    """``InstanceFacts`` per base URL, discovered once per ``ttl_s`` seconds (thread-safe)."""

    def __init__(
        self,
        ttl_s: float = 3600.0,
        *,
        discover_fn: Callable[[ServiceNowClient], InstanceFacts] = discover,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_s
        self._discover = discover_fn
        self._clock = clock
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._entries: dict[str, tuple[float, InstanceFacts]] = {}

    def get(self, client: ServiceNowClient) -> InstanceFacts:
        key = client.base_url
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:  # one discovery per instance at a time; others wait for its answer
            entry = self._entries.get(key)
            if entry is not None and self._clock() < entry[0]:
                return entry[1]
            facts = self._discover(client)
            self._entries[key] = (self._clock() + self._ttl, facts)
            return facts

    def invalidate(self, base_url: str | None = None) -> None:
        """Forget one instance's facts (or all), e.g. after a choice list was corrected."""
        with self._lock:
            if base_url is None:
                self._entries.clear()
            else:
                self._entries.pop(base_url.rstrip("/"), None)
