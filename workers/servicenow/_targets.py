"""The REST or SOAP message to switch to mutual TLS (servicenow-api.md 4, 7 step 7).

Mutual auth is set on the message and on every method (or SOAP function that carries the
columns), as the runbook does: whether methods inherit it is UNCERTAIN (4.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from workers.errors import ServiceNowConflict, VerificationFailed
from workers.servicenow._common import text
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import InstanceFacts
from workers.servicenow.models import TargetRef

__all__ = [
    "enable_mutual_auth",
    "find_target",
    "mutual_auth_refusals",
    "mutual_columns",
    "read_mutual_auth",
    "restore_mutual_auth",
]

_REST = ("sys_rest_message", "sys_rest_message_fn", "rest_message")
_REST_COLUMNS = ("use_mutual_auth", "protocol_name")
_CONTEXT = ("authentication_type", "use_mid_server")


def find_target(
    client: ServiceNowClient, facts: InstanceFacts, kind: Literal["rest", "soap"], name: str
) -> TargetRef | None:
    """The message named ``name`` and its methods, or None when there is none."""
    method_table: str | None
    if kind == "rest":
        table, method_table, parent = _REST
        carries = True
    else:
        table, method_table = "sys_soap_message", facts.soap_function_table
        parent = facts.soap_function_parent_column or ""
        carries = bool(facts.soap_function_columns)
    rows = client.query(table, {"name": name})
    if len(rows) > 1:
        raise ServiceNowConflict(
            f"{len(rows)} records in {table} are named {name!r}",
            hint="rename all but one, so that the job's target is unambiguous",
        )
    if not rows:
        return None
    sys_id = text(rows[0]["sys_id"])
    method_rows = client.query(method_table, {parent: sys_id}) if method_table and parent else []
    # a SOAP message keeps its endpoint on its functions
    endpoints = (_endpoint(row) for row in (rows[0], *method_rows))
    return TargetRef(
        kind=kind,
        table=table,
        sys_id=sys_id,
        name=name,
        endpoint=next((e for e in endpoints if e), ""),
        method_table=method_table if carries else None,
        method_sys_ids=tuple(sorted(text(r["sys_id"]) for r in method_rows)) if carries else (),
        row_endpoints={text(r["sys_id"]): _endpoint(r) for r in (rows[0], *method_rows)},
    )


def mutual_columns(facts: InstanceFacts, target: TargetRef, sys_id: str) -> tuple[str, str]:
    """(mutual-auth column, protocol-profile column) of the message or method ``sys_id``."""
    if target.kind == "rest":
        return _REST_COLUMNS
    if sys_id != target.sys_id and len(facts.soap_function_columns) == 2:
        return facts.soap_function_columns[0], facts.soap_function_columns[1]
    if facts.soap_mutual_auth_column and facts.soap_profile_column:
        return facts.soap_mutual_auth_column, facts.soap_profile_column
    raise ServiceNowConflict(
        "this instance's sys_soap_message has no mutual-auth or protocol-profile column",
        hint="check sys_dictionary for sys_soap_message; SOAP mutual auth may need a newer release",
    )


def read_mutual_auth(
    client: ServiceNowClient, facts: InstanceFacts, target: TargetRef
) -> dict[str, dict[str, str]]:
    """sys_id -> the current mutual-auth, profile, authentication and MID server values."""
    state: dict[str, dict[str, str]] = {}
    for sys_id in (target.sys_id, *target.method_sys_ids):
        wanted = (*mutual_columns(facts, target, sys_id), *_CONTEXT)
        row = client.get(target.table_of(sys_id), sys_id, fields=("sys_id", *wanted))
        if row is None:
            raise ServiceNowConflict(
                f"{target.table_of(sys_id)} {sys_id} of {target.name!r} has disappeared",
                hint="look the target up again; someone changed it while the job ran",
            )
        state[sys_id] = {column: text(row[column]) for column in wanted if column in row}
    return state


def enable_mutual_auth(
    client: ServiceNowClient,
    facts: InstanceFacts,
    target: TargetRef,
    profile_sys_id: str,
    *,
    protocol: str = "",
) -> None:
    """Mutual auth with the profile on the message and every method; checked after. A
    row whose endpoint's scheme names the profile (``protocol``) is on it already and is
    left exactly as it is: it works through its scheme, not its checkbox."""
    before = read_mutual_auth(client, facts, target)
    problems = [p for sys_id, row in before.items() for p in _refusals(facts, sys_id, row)]
    if problems:
        raise ServiceNowConflict(
            f"mutual auth cannot work on {target.name!r}: " + "; ".join(problems),
            hint="mutual auth needs basic or no authentication and no MID server (4.3)",
        )
    by_scheme = target.through_scheme(protocol) if protocol else frozenset()
    before = {k: v for k, v in before.items() if k not in by_scheme}
    for sys_id, row in before.items():
        mutual, profile = mutual_columns(facts, target, sys_id)
        wanted = {mutual: "true", profile: profile_sys_id}
        if any(row.get(k) != v for k, v in wanted.items()):
            client.update(target.table_of(sys_id), sys_id, wanted)
    after = read_mutual_auth(client, facts, target)
    for sys_id, row in after.items():
        if sys_id in by_scheme:
            continue
        mutual, profile = mutual_columns(facts, target, sys_id)
        if row.get(mutual) != "true" or row.get(profile) != profile_sys_id:
            raise VerificationFailed(
                f"{target.table_of(sys_id)} {sys_id} reads back without mutual auth",
                check="mutual_auth",
                hint="a business rule or ACL may have refused the change silently",
            )


def restore_mutual_auth(
    client: ServiceNowClient,
    facts: InstanceFacts,
    target: TargetRef,
    previous: Mapping[str, Mapping[str, str]],
) -> None:
    """Put back the mutual-auth and profile values ``read_mutual_auth`` returned before."""
    for sys_id, row in previous.items():
        columns = mutual_columns(facts, target, sys_id)
        values = {c: row[c] for c in columns if c in row}
        if values:
            client.update(target.table_of(sys_id), sys_id, values)


def _refusals(facts: InstanceFacts, sys_id: str, row: Mapping[str, str]) -> list[str]:
    problems = []
    if row.get("use_mid_server"):
        problems.append(f"{sys_id} runs through a MID server")
    auth = row.get("authentication_type", "")
    oauth = auth == facts.auth_oauth_value if facts.auth_oauth_value else "oauth" in auth
    if auth and oauth:
        problems.append(f"{sys_id} uses OAuth 2.0")
    return problems


def _endpoint(row: Mapping[str, Any]) -> str:
    for column in ("rest_endpoint", "endpoint", "soap_endpoint"):
        if text(row.get(column)):
            return text(row[column])
    return next((text(v) for k, v in row.items() if "endpoint" in k and text(v)), "")


def mutual_auth_refusals(facts: InstanceFacts, sys_id: str, row: Mapping[str, str]) -> list[str]:
    """Why mutual auth cannot work on one record ``read_mutual_auth`` read (MID server,
    OAuth 2.0: servicenow-api.md 3, 6.4); empty when it can."""
    return _refusals(facts, sys_id, row)
