"""ACLs by role (servicenow-api.md 5.4, 6.10): each table names the roles that may read it
and write it; the admin role passes every ACL, as on the platform.

The runbook's roles: admin for certificates and protocol profiles, web_service_admin (or
admin) for REST and SOAP messages (servicenow-api.md 3, 4.3, 4.4). Writes a caller's roles
do not allow are refused with 403. Reads are refused with 403, or, when the facts say so,
silently filtered (200 with fewer or no rows, as KB3047115 describes).
"""

from __future__ import annotations

from collections.abc import Collection

from ops.dev.sandbox.store import Refusal, SandboxStore

__all__ = ["ADMIN", "WEB_SERVICE_ADMIN", "Roles", "can_read", "has_role", "require_write"]

Roles = frozenset[str]
ADMIN = "admin"
WEB_SERVICE_ADMIN = "web_service_admin"

_VERBS = {"create": "Insert", "update": "Update", "delete": "Delete"}


def has_role(roles: Roles, required: Collection[str]) -> bool:
    """Whether ``roles`` satisfy an ACL needing one of ``required`` (none: anyone)."""
    return not required or ADMIN in roles or any(role in roles for role in required)


def can_read(store: SandboxStore, table: str, roles: Roles) -> bool:
    """Whether the caller may see the rows; raises 403 when the ACL refuses outright."""
    store.check_allowed(table, "read", None)
    if has_role(roles, store.table(table).read_roles):
        return True
    if store.facts.acl_read_denied == "filter":
        return False
    raise Refusal(403, "Operation Failed", "ACL Exception Read Failed due to security constraints")


def require_write(store: SandboxStore, table: str, operation: str, roles: Roles) -> None:
    """Refuse a create/update/delete the caller's roles do not allow."""
    if has_role(roles, store.table(table).write_roles):
        return
    verb = _VERBS[operation]
    raise Refusal(
        403, "Operation Failed", f"ACL Exception {verb} Failed due to security constraints"
    )
