"""The runbook's steps as idempotent operations on one instance: what stage cores call.

Every ``ensure_*`` leaves exactly one of each thing however often it runs, including
after a lost answer: it finds by exact match first, creates only if absent, and after a
failed POST looks again before the pipeline tries again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from workers.servicenow._common import PROFILE, delete_with_attachments, ignore_missing, text
from workers.servicenow._keystore import activate_keystore_record, ensure_keystore_record
from workers.servicenow._live import profile_in_use, profiles_in_use
from workers.servicenow._lookups import (
    find_profile,
    keystore_records,
    profile_users,
    profiles_using,
)
from workers.servicenow._profile import ensure_protocol_profile
from workers.servicenow._targets import (
    enable_mutual_auth,
    find_target,
    mutual_columns,
    read_mutual_auth,
    restore_mutual_auth,
)
from workers.servicenow._trust import ensure_trust_record, find_trust
from workers.servicenow._verify import (
    check_configuration,
    configuration_warnings,
    read_configuration,
)
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import InstanceFacts
from workers.servicenow.models import (
    ConfigurationSnapshot,
    KeystoreRecord,
    ProfileInUse,
    ProfileRecord,
    ProfileState,
    TargetRef,
    TrustRecord,
)
from workers.servicenow.survey import profiles_used

__all__ = ["Instance"]


class Instance:
    """One instance, as the stages see it: records, not HTTP."""

    def __init__(self, client: ServiceNowClient, facts: InstanceFacts) -> None:
        self.client = client
        self.facts = facts

    def __repr__(self) -> str:
        return f"Instance({self.client.base_url!r})"

    def find_target(self, kind: Literal["rest", "soap"], name: str) -> TargetRef | None:
        """The REST message (and its HTTP methods) or SOAP message named ``name``."""
        return find_target(self.client, self.facts, kind, name)

    def ensure_keystore_record(
        self,
        *,
        name: str,
        marker: str,
        keystore: bytes,
        password: str,
        file_name: str = "client.jks",
        description: str = "",
        activate: bool = True,
        pkcs12: bool = False,
    ) -> KeystoreRecord:
        """Runbook steps 2-4: inactive record, keystore attached and checked, password, active
        (unless ``activate`` is false: a renewal activates its record when it switches).
        ``pkcs12``: a "PKCS12 Key Store" record instead of a "Java Key Store" one."""
        return ensure_keystore_record(
            self.client,
            self.facts,
            name=name,
            marker=marker,
            keystore=keystore,
            password=password,
            file_name=file_name,
            description=description,
            activate=activate,
            pkcs12=pkcs12,
        )

    def activate_keystore_record(self, sys_id: str) -> None:
        """Activate a keystore record that holds its keystore and password; check it loads."""
        activate_keystore_record(self.client, self.facts, sys_id)

    def ensure_trust_record(
        self, *, name: str, certificate_der: bytes, as_der_attachment: bool = False
    ) -> TrustRecord:
        """Runbook step 5: the third party's server certificate as a Trust Store Cert."""
        return ensure_trust_record(
            self.client,
            self.facts,
            name=name,
            certificate_der=certificate_der,
            as_der_attachment=as_der_attachment,
        )

    def ensure_protocol_profile(
        self, *, protocol: str, port: int, keystore_sys_id: str, rotate: bool = False
    ) -> ProfileRecord:
        """Runbook step 6: the protocol profile pointing at the keystore record."""
        return ensure_protocol_profile(
            self.client,
            self.facts,
            protocol=protocol,
            port=port,
            keystore_sys_id=keystore_sys_id,
            rotate=rotate,
        )

    def read_mutual_auth(self, target: TargetRef) -> dict[str, dict[str, str]]:
        """What to keep before ``enable_mutual_auth``, to give to ``restore_mutual_auth``."""
        return read_mutual_auth(self.client, self.facts, target)

    def profiles_used(
        self, target: TargetRef, state: Mapping[str, Mapping[str, str]]
    ) -> dict[str, tuple[str, str]]:
        """Per record of ``state`` (``read_mutual_auth``'s): its profile column and the
        protocol name of the profile it uses (what ``plan`` shows)."""
        return profiles_used(self.client, state, lambda s: self.mutual_columns(target, s)[1])

    def enable_mutual_auth(
        self, target: TargetRef, profile_sys_id: str, *, protocol: str = ""
    ) -> None:
        """Runbook step 7: mutual auth with the profile on the message and every method
        (those whose endpoint's scheme names the profile ``protocol`` are left as they are)."""
        enable_mutual_auth(self.client, self.facts, target, profile_sys_id, protocol=protocol)

    def restore_mutual_auth(
        self, target: TargetRef, previous: Mapping[str, Mapping[str, str]]
    ) -> None:
        restore_mutual_auth(self.client, self.facts, target, previous)

    def read_configuration(
        self,
        keystore_sys_id: str,
        trust_sys_id: str,
        profile_sys_id: str,
        target: TargetRef,
    ) -> ConfigurationSnapshot:
        return read_configuration(
            self.client, self.facts, keystore_sys_id, trust_sys_id, profile_sys_id, target
        )

    def check_configuration(
        self,
        snapshot: ConfigurationSnapshot,
        *,
        keystore_sha256: str,
        trust_sha256: str | None = None,
        protocol: str | None = None,
    ) -> list[str]:
        """Inconsistencies of a snapshot; ``configuration_warnings`` has the advisories."""
        return check_configuration(
            self.facts,
            snapshot,
            keystore_sha256=keystore_sha256,
            trust_sha256=trust_sha256,
            protocol=protocol,
        )

    def configuration_warnings(self, snapshot: ConfigurationSnapshot) -> list[str]:
        return configuration_warnings(snapshot)

    def download_attachment(self, sys_id: str) -> bytes:
        return self.client.download_attachment(sys_id)

    # -- lookups (read-only): what was there before a job, and what rollback undoes ------

    def find_trust_record(self, certificate_der: bytes) -> str | None:
        """The Trust Store Cert record holding this certificate, if one exists."""
        return find_trust(self.client, self.facts, certificate_der)

    def find_protocol_profile(self, protocol: str) -> ProfileState | None:
        return find_profile(self.client, protocol)

    def keystore_records(self, marker: str) -> list[str]:
        """The certificate records a job made: those carrying its marker."""
        return keystore_records(self.client, marker)

    def profiles_using(self, keystore_sys_id: str) -> list[str]:
        return profiles_using(self.client, keystore_sys_id)

    def profile_users(self, profile_sys_id: str, *, protocol: str = "") -> list[tuple[str, str]]:
        """(table, sys_id) of the messages, methods and functions using the profile (by
        their endpoint's scheme too, given the profile's ``protocol``)."""
        return profile_users(self.client, self.facts, profile_sys_id, protocol=protocol)

    def profiles_in_use(self, target: TargetRef) -> list[ProfileInUse]:
        """The profiles the message and its methods use with mutual auth on, now."""
        return profiles_in_use(self.client, self.facts, target)

    def profile_in_use(self, profile_sys_id: str) -> ProfileInUse:
        """One profile and its keystore; ``problem`` says why it cannot serve (or is "")."""
        return profile_in_use(self.client, profile_sys_id)

    def mutual_columns(self, target: TargetRef, sys_id: str) -> tuple[str, str]:
        """(mutual-auth column, protocol-profile column) of the message or one method."""
        return mutual_columns(self.facts, target, sys_id)

    def record_exists(self, table: str, sys_id: str) -> bool:
        return self.client.get(table, sys_id, fields=("sys_id",)) is not None

    def record_active(self, table: str, sys_id: str) -> bool:
        """The record exists and its ``active`` is true."""
        row = self.client.get(table, sys_id, fields=("sys_id", "active"))
        return row is not None and text(row.get("active")) == "true"

    def restore_protocol_profile(self, sys_id: str, *, keystore: str, default_port: str) -> None:
        """Rollback: point a profile that existed before a job back where it was."""
        self.client.update(PROFILE, sys_id, {"keystore": keystore, "default_port": default_port})

    def deactivate_record(self, table: str, sys_id: str) -> None:
        """Rollback: ``active`` false; a record that is gone needs nothing."""
        ignore_missing(lambda s: self.client.update(table, s, {"active": "false"}), sys_id)

    def delete_record(self, table: str, sys_id: str) -> None:
        """Rollback: delete the record and its attachments; a record that is gone is done."""
        delete_with_attachments(self.client, table, sys_id)
