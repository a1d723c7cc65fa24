"""Doctor's checks of the instance itself: the facts discovery relies on (choice values,
column types, SOAP columns), the columns of each table the pipeline uses, and the system
properties that matter (attachment extensions and size) and the known platform problems
(``platform_problems``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from workers.errors import TwowayError
from workers.readiness.doctor_model import Check
from workers.readiness.platform_problems import platform_problems
from workers.servicenow import InstanceFacts, ServiceNowClient
from workers.servicenow.facts import (
    choices,
    password_type,
    soap_columns,
)

__all__ = ["column_checks", "fact_checks", "property_checks"]

# label, whether a job cannot do without it
_CHOICES = {
    ("sys_certificate", "type"): (
        ("Java Key Store", True),
        ("Trust Store Cert", True),
        ("PKCS12 Key Store", False),
    ),
    ("sys_certificate", "format"): (("PEM", True), ("DER", True)),
    ("sys_rest_message_fn", "authentication_type"): (
        ("Inherit from parent", False),
        ("OAuth 2.0", False),
    ),
}
_COLUMNS = {
    "sys_certificate": (
        "name", "type", "format", "active", "pem_certificate", "key_store_password",
        "short_description",
    ),
    "sys_attachment": ("file_name", "table_name", "table_sys_id", "hash", "size_bytes"),
    "sys_protocol_profile": ("protocol", "default_port", "keystore"),
    "sys_rest_message": (
        "name", "rest_endpoint", "authentication_type", "use_mutual_auth", "protocol_name",
    ),
    "sys_rest_message_fn": (
        "rest_message", "function_name", "rest_endpoint", "authentication_type",
        "use_mutual_auth", "protocol_name", "use_mid_server",
    ),
    "syslog": ("level", "source", "message"),
}  # fmt: skip
_READ_METADATA = "let the integration user read sys_choice and sys_dictionary (admin role)"


def fact_checks(client: ServiceNowClient) -> list[Check]:
    checks: list[Check] = []
    for (table, element), wanted in _CHOICES.items():
        checks += _attempt(
            f"{table}.{element}", partial(_choice_rows, client, table, element, wanted)
        )
    checks += _attempt("sys_certificate.key_store_password type", lambda: [_password(client)])
    checks += _attempt("SOAP message columns", lambda: _soap(client))
    return checks


def column_checks(client: ServiceNowClient, facts: InstanceFacts | None) -> list[Check]:
    wanted = dict(_COLUMNS)
    if facts is not None and facts.soap_mutual_auth_column and facts.soap_profile_column:
        wanted["sys_soap_message"] = (facts.soap_mutual_auth_column, facts.soap_profile_column)
    if facts is not None and facts.soap_function_table and facts.soap_function_columns:
        wanted[facts.soap_function_table] = facts.soap_function_columns
    checks: list[Check] = []
    for table, columns in wanted.items():
        checks += _attempt(table, partial(_columns, client, table, columns), group="columns")
    return checks


def property_checks(client: ServiceNowClient) -> list[Check]:
    return [
        *_attempt("glide.attachment.extensions", lambda: [_extensions(client)], group="properties"),
        *_attempt("com.glide.attachment.max_size", lambda: [_max_size(client)], group="properties"),
        *_attempt("known platform problems", lambda: platform_problems(client), group="platform"),
    ]


def _attempt(name: str, checks: Callable[[], list[Check]], *, group: str = "facts") -> list[Check]:
    try:
        return checks()
    except TwowayError as exc:
        return [
            Check(
                group=group,
                name=name,
                status="unknown",
                detail=f"could not be read: {exc.message}",
                fix=exc.hint or _READ_METADATA,
            )
        ]


def _choice_rows(
    client: ServiceNowClient, table: str, element: str, wanted: tuple[tuple[str, bool], ...]
) -> list[Check]:
    found = choices(client, table, element)
    checks = []
    for label, needed in wanted:
        value = found.get(label.casefold())
        name = f"{table}.{element} '{label}'"
        if value:
            checks.append(
                Check(group="facts", name=name, status="pass", detail=f"stored value {value!r}")
            )
        elif needed:
            checks.append(
                Check(
                    group="facts",
                    name=name,
                    status="fail",
                    detail="no active English choice with this label",
                    fix=f"check System Definition > Choice Lists for {table}.{element}",
                )
            )
        else:
            checks.append(
                Check(
                    group="facts",
                    name=name,
                    status="unknown",
                    detail="not offered: not established",
                )
            )
    return checks


def _password(client: ServiceNowClient) -> Check:
    kind = password_type(client)
    how = "written with sysparm_input_display_value" if kind == "password2" else "written as is"
    return Check(
        group="facts",
        name="sys_certificate.key_store_password type",
        status="pass",
        detail=f"{kind} ({how})",
    )


def _soap(client: ServiceNowClient) -> list[Check]:
    checks = []
    for name, value in soap_columns(client).items():
        if name == "SOAP function columns" and not value:
            detail = "none: mutual auth is set on the SOAP message only"
            checks.append(Check(group="facts", name=name, status="pass", detail=detail))
        elif value:
            shown = ", ".join(value) if isinstance(value, tuple) else str(value)
            checks.append(Check(group="facts", name=name, status="pass", detail=shown))
        else:
            checks.append(
                Check(
                    group="facts",
                    name=name,
                    status="unknown",
                    detail="not found in sys_dictionary: SOAP jobs may be refused",
                    fix="only SOAP targets need it; check the release's SOAP message columns",
                )
            )
    return checks


def _columns(client: ServiceNowClient, table: str, columns: tuple[str, ...]) -> list[Check]:
    return [_column_check(client, table, columns)]


def _column_check(client: ServiceNowClient, table: str, columns: tuple[str, ...]) -> Check:
    rows = client.query("sys_dictionary", {"name": table}, fields=("element",))
    present = {str(r.get("element", "")) for r in rows}
    missing = [c for c in columns if c not in present]
    if not rows:
        return Check(
            group="columns",
            name=table,
            status="unknown",
            detail="no dictionary entries visible",
            fix=_READ_METADATA,
        )
    return Check(
        group="columns",
        name=table,
        status="fail" if missing else "pass",
        detail=f"missing: {', '.join(missing)}" if missing else f"{len(columns)} columns present",
        fix="this release lacks columns the runbook uses; see servicenow-api.md" if missing else "",
    )


def _property(client: ServiceNowClient, name: str) -> str | None:
    rows = client.query("sys_properties", {"name": name}, fields=("value",))
    return str(rows[0].get("value", "")) if rows else None


def _extensions(client: ServiceNowClient) -> Check:
    value = _property(client, "glide.attachment.extensions") or ""
    allowed = {e.strip().lstrip(".").lower() for e in value.split(",") if e.strip()}
    ok = not allowed or "jks" in allowed
    return Check(
        group="properties",
        name="glide.attachment.extensions admits .jks",
        status="pass" if ok else "fail",
        detail=f"allow-list: {', '.join(sorted(allowed))}" if allowed else "no allow-list",
        fix="" if ok else "add jks to glide.attachment.extensions",
    )


def _max_size(client: ServiceNowClient) -> Check:
    value = _property(client, "com.glide.attachment.max_size")
    name = "com.glide.attachment.max_size"
    if value is None or not value.strip():
        return Check(group="properties", name=name, status="pass", detail="not set: 1024 MB")
    try:
        megabytes = float(value)
    except ValueError:
        return Check(
            group="properties", name=name, status="unknown", detail=f"{value!r} is not a number"
        )
    ok = megabytes >= 1  # a keystore is a few kilobytes
    return Check(
        group="properties",
        name=name,
        status="pass" if ok else "fail",
        detail=f"{value} MB",
        fix="" if ok else "raise it to at least 1 (MB)",
    )
