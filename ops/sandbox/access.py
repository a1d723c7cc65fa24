"""ACLs: admin tables refuse the user without the admin role (servicenow-api.md 5.4, 6.10).

Writes are refused with 403. Reads are refused with 403, or, when the facts say so,
silently filtered (200 with fewer or no rows, as KB3047115 describes).
"""

from __future__ import annotations

from .store import Refusal, Store

__all__ = ["can_read", "require_write"]

_VERBS = {"create": "Insert", "update": "Update", "delete": "Delete"}


def can_read(store: Store, table: str, admin: bool) -> bool:
    """Whether the caller may see the rows; raises 403 when the ACL refuses outright."""
    store.check_allowed(table, "read", None)
    if admin or not store.table(table).admin_read:
        return True
    if store.facts.acl_read_denied == "filter":
        return False
    raise Refusal(403, "Operation Failed", "ACL Exception Read Failed due to security constraints")


def require_write(store: Store, table: str, operation: str, admin: bool) -> None:
    """Refuse a create/update/delete the caller's roles do not allow."""
    if admin or not store.table(table).admin_write:
        return
    verb = _VERBS[operation]
    raise Refusal(
        403, "Operation Failed", f"ACL Exception {verb} Failed due to security constraints"
    )
