"""The reads behind discovery: every table of the estate in as few calls as paging allows.

One call per table page (1000 rows), whatever the estate's size: certificates, their
attachments (one listing for all of them), profiles, REST messages and methods, SOAP
messages and functions (all of them, kept when on mutual auth by their checkbox or by an
custom endpoint scheme, which can only name a protocol profile); then one download per
attached keystore, spread over ``max_concurrent_calls`` clients of their own (each call
holds one of the instance's call slots). Only GETs: discovery writes nothing to the instance.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from workers.servicenow import ServiceNowClient
from workers.servicenow.facts import InstanceFacts
from workers.servicenow.schemes import custom_scheme

__all__ = ["RawEstate", "read_estate"]

Row = dict[str, Any]
_CERT_FIELDS = (
    "sys_id",
    "name",
    "type",
    "format",
    "active",
    "pem_certificate",
    "valid_from",
    "expires",
    "issuer",
    "subject",
)
# Only what the inventory needs: never a password column, not even an encrypted one.
_REST_FIELDS = ("sys_id", "name", "rest_endpoint", "use_mutual_auth", "protocol_name")
_METHOD_FIELDS = (*_REST_FIELDS, "rest_message", "function_name")


@dataclass
class RawEstate:
    """The rows as the instance stores them (references as sys_ids)."""

    certificates: list[Row] = field(default_factory=list)
    attachments: dict[str, Row] = field(default_factory=dict)  # record sys_id -> newest
    profiles: list[Row] = field(default_factory=list)
    rest_messages: list[Row] = field(default_factory=list)
    rest_methods: list[Row] = field(default_factory=list)
    soap_messages: list[Row] = field(default_factory=list)
    soap_functions: list[Row] = field(default_factory=list)
    downloads: dict[str, bytes] = field(default_factory=dict)  # record sys_id -> bytes


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("value", ""))
    return "" if value is None else str(value)


def _on(row: Row, mutual: str | None, endpoint: str) -> bool:
    """On mutual auth: its checkbox is ticked, or its endpoint's scheme can only name a
    protocol profile (workers/servicenow/schemes.py)."""
    ticked = mutual is not None and _text(row.get(mutual)) == "true"
    return ticked or custom_scheme(_text(row.get(endpoint))) is not None


def _rest(client: ServiceNowClient, raw: RawEstate) -> None:
    # Every row, filtered here: a scheme is matched case-insensitively, which an encoded
    # query cannot promise (servicenow-api.md 5: values are case-sensitive).
    messages = client.query("sys_rest_message", fields=_REST_FIELDS)
    methods = client.query("sys_rest_message_fn", fields=_METHOD_FIELDS)
    raw.rest_methods = [m for m in methods if _on(m, "use_mutual_auth", "rest_endpoint")]
    parents = {_text(m.get("rest_message")) for m in raw.rest_methods}
    raw.rest_messages = [
        m
        for m in messages
        if _on(m, "use_mutual_auth", "rest_endpoint") or _text(m["sys_id"]) in parents
    ]


def _soap(client: ServiceNowClient, facts: InstanceFacts, raw: RawEstate) -> None:
    column, table = facts.soap_mutual_auth_column, facts.soap_function_table
    parent = facts.soap_function_parent_column
    fields = ("sys_id", "name", *(c for c in (column, facts.soap_profile_column) if c))
    messages = client.query("sys_soap_message", fields=fields)
    functions: list[Row] = []
    if table and parent:
        function_fields = (
            "sys_id",
            parent,
            "function_name",
            "soap_endpoint",
            *facts.soap_function_columns,
        )
        functions = client.query(table, fields=function_fields)
    checkbox = facts.soap_function_columns[0] if facts.soap_function_columns else None
    parents = {_text(f.get(parent or "")) for f in functions if _on(f, checkbox, "soap_endpoint")}
    raw.soap_messages = [m for m in messages if _on(m, column, "") or _text(m["sys_id"]) in parents]
    # a SOAP message keeps its endpoint on its functions
    ids = {_text(m["sys_id"]) for m in raw.soap_messages}
    raw.soap_functions = [f for f in functions if _text(f.get(parent or "")) in ids]


def _download_all(
    new_client: Callable[[], ServiceNowClient], wanted: dict[str, str], threads: int
) -> dict[str, bytes]:
    """record sys_id -> attachment bytes, ``threads`` clients at once."""
    if not wanted:
        return {}
    items = sorted(wanted.items())
    parts = [items[i :: max(threads, 1)] for i in range(max(threads, 1))]

    def fetch(part: list[tuple[str, str]]) -> dict[str, bytes]:
        with new_client() as client:
            return {record: client.download_attachment(att) for record, att in part}

    found: dict[str, bytes] = {}
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        for result in pool.map(fetch, [p for p in parts if p]):
            found.update(result)
    return found


def _in_parallel(
    new_client: Callable[[], ServiceNowClient],
    tasks: list[Callable[[ServiceNowClient], None]],
    threads: int,
) -> None:
    """Run each task on a client of its own, at most ``threads`` at once."""

    def run(task: Callable[[ServiceNowClient], None]) -> None:
        with new_client() as client:
            task(client)

    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        list(pool.map(run, tasks))  # re-raises the first failure


def read_estate(
    facts: InstanceFacts,
    new_client: Callable[[], ServiceNowClient],
    *,
    threads: int,
) -> RawEstate:
    """Every mutual-TLS record of the instance, and the keystores attached to them: the
    tables read side by side, then the keystores, ``threads`` calls at most at once."""
    raw = RawEstate()

    def certificates(client: ServiceNowClient) -> None:
        raw.certificates = client.query("sys_certificate", fields=_CERT_FIELDS)

    def attachments(client: ServiceNowClient) -> None:
        listing = client.query(
            "sys_attachment",
            {"table_name": "sys_certificate"},
            encoded="ORDERBYsys_created_on",
            fields=("sys_id", "table_sys_id", "hash", "file_name"),
        )
        for row in listing:
            raw.attachments[_text(row.get("table_sys_id"))] = row  # the newest last

    def profiles(client: ServiceNowClient) -> None:
        fields = ("sys_id", "protocol", "default_port", "keystore")
        raw.profiles = client.query("sys_protocol_profile", fields=fields)

    tasks = [
        certificates,
        attachments,
        profiles,
        lambda client: _rest(client, raw),
        lambda client: _soap(client, facts, raw),
    ]
    _in_parallel(new_client, tasks, threads)
    keystores = {
        _text(r["sys_id"]): _text(raw.attachments[_text(r["sys_id"])]["sys_id"])
        for r in raw.certificates
        if _text(r.get("type")) in facts.keystore_types and _text(r["sys_id"]) in raw.attachments
    }
    raw.downloads = _download_all(new_client, keystores, threads)
    return raw
