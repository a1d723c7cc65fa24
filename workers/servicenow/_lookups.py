"""Read-only lookups for what a job must know before it changes something, and for rollback.

Each one re-checks the rows it gets (servicenow-api.md 5.2: an invalid condition is
silently ignored), and none changes anything on the instance.
"""

from __future__ import annotations

from workers.errors import RequestInvalid
from workers.servicenow._common import CERTIFICATE, PROFILE, text
from workers.servicenow._trust import find_trust
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import InstanceFacts
from workers.servicenow.models import ProfileState
from workers.servicenow.schemes import uses_profile_scheme

__all__ = [
    "find_profile",
    "find_trust_record",
    "keystore_records",
    "profile_users",
    "profiles_using",
]

_PROFILE_FIELDS = ("sys_id", "protocol", "default_port", "keystore", "sys_created_on")


def find_profile(client: ServiceNowClient, protocol: str) -> ProfileState | None:
    """The protocol profile named ``protocol`` as it is now (the oldest, if several)."""
    rows = client.query(PROFILE, {"protocol": protocol}, fields=_PROFILE_FIELDS)
    if not rows:
        return None
    row = min(rows, key=lambda r: (text(r.get("sys_created_on")), text(r.get("sys_id"))))
    return ProfileState(
        sys_id=text(row["sys_id"]),
        protocol=text(row.get("protocol")),
        default_port=text(row.get("default_port")),
        keystore=text(row.get("keystore")),
    )


def find_trust_record(
    client: ServiceNowClient, facts: InstanceFacts, certificate_der: bytes
) -> str | None:
    """The sys_id of the complete Trust Store Cert record holding this certificate."""
    return find_trust(client, facts, certificate_der)


def keystore_records(client: ServiceNowClient, marker: str) -> list[str]:
    """sys_ids of the certificate records carrying the job ``marker``, oldest first."""
    if not marker.strip():
        raise RequestInvalid("a job marker is needed to find a job's keystore records")
    rows = client.query(
        CERTIFICATE,
        encoded=f"short_descriptionLIKE{marker}",
        fields=("sys_id", "short_description", "sys_created_on"),
    )
    ours = [r for r in rows if marker in text(r.get("short_description"))]
    ours.sort(key=lambda r: (text(r.get("sys_created_on")), text(r.get("sys_id"))))
    return [text(r["sys_id"]) for r in ours]


def profiles_using(client: ServiceNowClient, keystore_sys_id: str) -> list[str]:
    """sys_ids of the protocol profiles whose keystore is ``keystore_sys_id``."""
    rows = client.query(PROFILE, {"keystore": keystore_sys_id}, fields=("sys_id", "keystore"))
    return sorted(text(r["sys_id"]) for r in rows)


def profile_users(
    client: ServiceNowClient, facts: InstanceFacts, profile_sys_id: str, *, protocol: str = ""
) -> list[tuple[str, str]]:
    """(table, sys_id) of every message, method or function that uses the profile: by its
    profile column, or (given the profile's ``protocol``) by its endpoint's scheme."""
    users = [("sys_rest_message", "protocol_name"), ("sys_rest_message_fn", "protocol_name")]
    if facts.soap_profile_column:
        users.append(("sys_soap_message", facts.soap_profile_column))
    if facts.soap_function_table and len(facts.soap_function_columns) == 2:
        users.append((facts.soap_function_table, facts.soap_function_columns[1]))
    found = []
    for table, column in users:
        rows = client.query(table, {column: profile_sys_id}, fields=("sys_id", column))
        found += [(table, text(r["sys_id"])) for r in rows]
    return found + [u for u in _scheme_users(client, facts, protocol) if u not in found]


def _scheme_users(
    client: ServiceNowClient, facts: InstanceFacts, protocol: str
) -> list[tuple[str, str]]:
    """The rows whose endpoint is ``<protocol>://...`` (workers/servicenow/schemes.py)."""
    if not protocol:
        return []
    endpoints = [("sys_rest_message", "rest_endpoint"), ("sys_rest_message_fn", "rest_endpoint")]
    if facts.soap_function_table:
        endpoints.append((facts.soap_function_table, "soap_endpoint"))
    found = []
    for table, column in endpoints:
        encoded = f"{column}STARTSWITH{protocol}://"
        rows = client.query(table, encoded=encoded, fields=("sys_id", column))
        found += [
            (table, text(r["sys_id"]))
            for r in rows
            if uses_profile_scheme(text(r.get(column)), protocol)  # what the query matched
        ]
    return found
