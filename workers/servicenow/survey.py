"""Read-only looks at an instance for ``plan`` and ``doctor``: what a job would find, and
what the integration user may do. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workers.servicenow._common import CERTIFICATE, PROFILE, text
from workers.servicenow._keystore import keystore_record_type
from workers.servicenow._targets import mutual_auth_refusals
from workers.servicenow._trust import find_trust_by_sha256
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.models import TargetRef

__all__ = [
    "certificates_named",
    "find_trust_by_sha256",
    "keystore_record_type",
    "method_names",
    "mutual_auth_refusals",
    "profile_names",
    "profiles_used",
    "user_roles",
]


def certificates_named(client: ServiceNowClient, name: str) -> list[dict[str, Any]]:
    """The sys_certificate records named exactly ``name`` (rows re-checked, 5.2)."""
    rows = client.query(CERTIFICATE, {"name": name}, fields=("sys_id", "name", "type"))
    return [r for r in rows if text(r.get("name")) == name]


def method_names(client: ServiceNowClient, target: TargetRef) -> dict[str, str]:
    """sys_id -> name of the message and each method (function) that carries mutual auth."""
    names = {target.sys_id: target.name}
    for sys_id in target.method_sys_ids:
        assert target.method_table is not None
        row = client.get(target.method_table, sys_id, fields=("sys_id", "function_name"))
        names[sys_id] = text(row.get("function_name")) if row else sys_id
    return names


def profile_names(client: ServiceNowClient, sys_ids: set[str]) -> dict[str, str]:
    """sys_id -> protocol name of protocol profiles (a missing one maps to its sys_id)."""
    names = {}
    for sys_id in sorted(s for s in sys_ids if s):
        row = client.get(PROFILE, sys_id, fields=("sys_id", "protocol"))
        names[sys_id] = text(row.get("protocol")) if row else f"{sys_id} (deleted)"
    return names


def profiles_used(
    client: ServiceNowClient,
    state: Mapping[str, Mapping[str, str]],
    profile_column: Callable[[str], str],
) -> dict[str, tuple[str, str]]:
    """For each record of ``state`` (``read_mutual_auth``'s sys_id -> values): its
    protocol-profile column and the protocol name of the profile it uses ("" for none,
    ``"<sys_id> (deleted)"`` for one that is gone)."""
    columns = {sys_id: profile_column(sys_id) for sys_id in state}
    names = profile_names(client, {state[s].get(c, "") for s, c in columns.items()})
    return {s: (c, names.get(state[s].get(c, ""), "")) for s, c in columns.items()}


def user_roles(client: ServiceNowClient, user_name: str) -> tuple[str, ...] | None:
    """The active roles granted to ``user_name`` (sys_user, then sys_user_has_role with the
    role's name dot-walked); None when the user record is not visible."""
    users = client.query("sys_user", {"user_name": user_name}, fields=("sys_id", "user_name"))
    users = [u for u in users if text(u.get("user_name")) == user_name]
    if not users:
        return None
    grants = client.query(
        "sys_user_has_role",
        {"user": text(users[0]["sys_id"])},
        fields=("role.name", "state", "user"),
    )
    return tuple(
        sorted(
            {
                text(g.get("role.name"))
                for g in grants
                if text(g.get("user")) == text(users[0]["sys_id"])
                and text(g.get("state")) in ("", "active")
                and text(g.get("role.name"))
            }
        )
    )
