"""What a fresh sandbox instance holds: metadata generated from the schema, properties,
and the demo messages (REST "Payments API" with three methods, SOAP "Ledger SOAP").

``sys_choice`` has one row per choice of every choice column, ``sys_dictionary`` one
collection row per table plus one row per column, so that a client can discover the
facts at runtime exactly as servicenow-api.md section 8 describes.
"""

from __future__ import annotations

from collections.abc import Iterable

from ops.dev.sandbox.schema import Column, Table
from ops.dev.sandbox.store import SandboxStore

__all__ = [
    "SYSTEM_USER",
    "add_rest_message",
    "add_soap_message",
    "seed",
    "set_property",
]

SYSTEM_USER = "admin"
DEFAULT_PROPERTIES = (
    ("glide.attachment.extensions", "", "string"),
    # servicenow-api.md 10: MIME validation is on by default; no role list by default
    ("glide.security.file.mime_type.validation", "true", "true|false"),
    ("glide.attachment.role", "", "string"),
    ("glide.invalid_query.returns_no_rows", "false", "true|false"),
    ("com.glide.attachment.max_size", "1024", "integer"),
)


def _choice_rows(table: Table) -> Iterable[dict[str, str]]:
    for column in table.own_columns:
        for sequence, (value, label) in enumerate(column.choices, start=1):
            yield {
                "name": table.name,
                "element": column.name,
                "value": value,
                "label": label,
                "language": "en",
                "inactive": "false",
                "sequence": str(sequence),
            }


def _dictionary_row(table: Table, column: Column) -> dict[str, str]:
    return {
        "name": table.name,
        "element": column.name,
        "column_label": column.label,
        "internal_type": column.internal_type,
        "reference": column.reference,
        "max_length": str(column.max_length),
        "default_value": column.default,
        "read_only": "true" if column.read_only else "false",
        "active": "true",
    }


def _dictionary_rows(table: Table) -> Iterable[dict[str, str]]:
    yield {
        "name": table.name,
        "element": "",
        "column_label": table.label,
        "internal_type": "collection",
        "max_length": "40",
        "active": "true",
    }
    for column in table.columns.values():
        yield _dictionary_row(table, column)


def set_property(store: SandboxStore, name: str, value: str, kind: str = "string") -> str:
    """Create or change a system property; returns its sys_id."""
    found = store.select("sys_properties", f"name={name}")
    if found:
        store.update("sys_properties", found[0]["sys_id"], {"value": value}, SYSTEM_USER)
        return found[0]["sys_id"]
    row = {"name": name, "value": value, "type": kind}
    return store.insert("sys_properties", row, SYSTEM_USER)["sys_id"]


def add_rest_message(
    store: SandboxStore,
    name: str,
    endpoint: str,
    methods: Iterable[str] = ("get", "post", "delete"),
) -> str:
    """A REST message using basic auth, with one HTTP method per verb; returns its sys_id."""
    facts = store.facts
    message = store.insert(
        "sys_rest_message",
        {
            "name": name,
            "rest_endpoint": endpoint,
            "authentication_type": facts.auth_basic[0],
            "use_basic_auth": "true",
            "use_mutual_auth": "false",
            "protocol_name": "",
        },
        SYSTEM_USER,
    )
    known = {value for value, _ in facts.http_methods}
    for verb in methods:
        http_method = next(
            (v for v in known if v.lower() == verb.lower()), facts.http_methods[0][0]
        )
        store.insert(
            "sys_rest_message_fn",
            {
                "rest_message": message["sys_id"],
                "function_name": verb.lower(),
                "http_method": http_method,
                "rest_endpoint": endpoint,
                "authentication_type": facts.auth_inherit[0],
                "use_mutual_auth": "false",
                "qualified_name": f"{name}.{verb.lower()}",
            },
            SYSTEM_USER,
        )
    return message["sys_id"]


def add_soap_message(
    store: SandboxStore, name: str, endpoint: str, function: str = "execute"
) -> str:
    """A SOAP message with one function; returns its sys_id."""
    facts = store.facts
    message = store.insert(
        "sys_soap_message",
        {
            "name": name,
            "wsdl": "",
            "use_basic_auth": "true",
            facts.soap_mutual_auth_column: "false",
            facts.soap_profile_column: "",
        },
        SYSTEM_USER,
    )
    store.insert(
        facts.soap_function_table,
        {
            "soap_message": message["sys_id"],
            "function_name": function,
            "soap_endpoint": endpoint,
            "soap_action": f"urn:{function}",
        },
        SYSTEM_USER,
    )
    return message["sys_id"]


def seed(store: SandboxStore, endpoint: str) -> None:
    """Fill a fresh store: metadata, properties and the demo messages."""
    for table in store.schema.values():
        for row in _choice_rows(table):
            store.insert("sys_choice", row, SYSTEM_USER)
        for row in _dictionary_rows(table):
            store.insert("sys_dictionary", row, SYSTEM_USER)
    for name, value, kind in DEFAULT_PROPERTIES:
        set_property(store, name, value, kind)
    add_rest_message(store, "Payments API", endpoint)
    add_soap_message(store, "Ledger SOAP", endpoint.removesuffix("/api") + "/soap/ledger")
