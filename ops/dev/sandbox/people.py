"""The instance's users, roles and role grants (``sys_user``, ``sys_user_role``,
``sys_user_has_role``), seeded from the sandbox's logins so that a client can read the
integration user's roles the way it would on a real instance (by ``user_name``, then its
grants with the role's name dot-walked)."""

from __future__ import annotations

from collections.abc import Iterable

from ops.dev.sandbox.auth import User
from ops.dev.sandbox.store import SandboxStore

__all__ = ["ROLES", "seed_people"]

_SYSTEM = "admin"
# The roles the runbook talks about, and one every instance has.
ROLES = (
    ("admin", "Full access to the instance"),
    ("web_service_admin", "Manages outbound REST and SOAP messages"),
    ("itil", "Fulfiller"),
)


def seed_people(store: SandboxStore, users: Iterable[User]) -> None:
    """One sys_user per login, the known roles, and a grant per role a login holds."""
    role_ids: dict[str, str] = {}
    wanted = {role for user in users for role in user.roles}
    for name, description in (*ROLES, *((r, "") for r in sorted(wanted - {n for n, _ in ROLES}))):
        row = store.insert("sys_user_role", {"name": name, "description": description}, _SYSTEM)
        role_ids[name] = row["sys_id"]
    for user in users:
        person = store.insert(
            "sys_user",
            {"user_name": user.username, "name": user.full_name, "active": "true"},
            _SYSTEM,
        )
        for role in sorted(user.roles):
            store.insert(
                "sys_user_has_role",
                {
                    "user": person["sys_id"],
                    "role": role_ids[role],
                    "state": "active",
                    "inherited": "false",
                },
                _SYSTEM,
            )
