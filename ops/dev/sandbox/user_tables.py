"""The user tables (``sys_user``, ``sys_user_role``, ``sys_user_has_role``): who the
integration user is and which roles it holds, read as a client reads them on an instance.
"""

from __future__ import annotations

from ops.dev.sandbox.facts import SandboxFacts
from ops.dev.sandbox.schema import Column, Table

__all__ = ["user_tables"]


def user_tables(f: SandboxFacts) -> tuple[Table, ...]:
    """Users, roles and role grants (the platform's names); who may read the grants is a
    fact the document does not settle (``user_roles_readable``)."""
    grants_readers: tuple[str, ...] = () if f.user_roles_readable else ("admin",)
    return (
        Table(
            "sys_user",
            "User",
            "name",
            (
                Column("user_name", "User ID", "string", 100),
                Column("name", "Name", "string", 100),
                Column("active", "Active", "boolean", default="true"),
                Column(
                    "web_service_access_only", "Web service access only", "boolean", default="false"
                ),
            ),
            read_roles=(),
        ),
        Table(
            "sys_user_role",
            "Role",
            "name",
            (
                Column("name", "Name", "string", 100),
                Column("description", "Description", "string", 1000),
            ),
            read_roles=(),
        ),
        Table(
            "sys_user_has_role",
            "User Role",
            "role",
            (
                Column("user", "User", "reference", 32, reference="sys_user"),
                Column("role", "Role", "reference", 32, reference="sys_user_role"),
                Column(
                    "state",
                    "State",
                    "string",
                    40,
                    choices=(("active", "Active"), ("pending", "Pending")),
                    default="active",
                ),
                Column("inherited", "Inherited", "boolean", default="false"),
            ),
            read_roles=grants_readers,
        ),
    )
