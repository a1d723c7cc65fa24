"""What a table and a column are: the dictionary entries the sandbox works from.

The emulated tables themselves are defined in :mod:`.tables`, from the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ops.dev.sandbox.facts import Choice

__all__ = ["SYSTEM_COLUMNS", "Column", "Schema", "Table"]


@dataclass(frozen=True)
class Column:
    """One column: its dictionary entry and, for a choice column, its choices."""

    name: str
    label: str
    internal_type: str = "string"
    max_length: int = 40
    reference: str = ""
    reference_key: str = "sys_id"
    choices: tuple[Choice, ...] = ()
    default: str = ""
    read_only: bool = False

    @property
    def is_reference(self) -> bool:
        return self.internal_type == "reference"

    @property
    def is_password(self) -> bool:
        return self.internal_type.startswith("password")


@dataclass(frozen=True)
class Table:
    """One table: its columns (system columns included) and its display column."""

    name: str
    label: str
    display: str
    own_columns: tuple[Column, ...]
    # The roles an ACL lets read / write the table (one of them; admin passes all; ()
    # anyone). Default: admin only, as for most system tables.
    read_roles: tuple[str, ...] = ("admin",)
    write_roles: tuple[str, ...] = ("admin",)

    @cached_property
    def columns(self) -> dict[str, Column]:
        cols = {c.name: c for c in SYSTEM_COLUMNS}
        cols.update((c.name, c) for c in self.own_columns)
        return cols

    def column(self, name: str) -> Column | None:
        return self.columns.get(name)


Schema = dict[str, Table]

SYSTEM_COLUMNS: tuple[Column, ...] = (
    Column("sys_id", "Sys ID", "GUID", 32, read_only=True),
    Column("sys_created_on", "Created", "glide_date_time", read_only=True),
    Column("sys_created_by", "Created by", max_length=40, read_only=True),
    Column("sys_updated_on", "Updated", "glide_date_time", read_only=True),
    Column("sys_updated_by", "Updated by", max_length=40, read_only=True),
    Column("sys_mod_count", "Updates", "integer", read_only=True),
    Column("sys_tags", "Tags", max_length=255, read_only=True),
)
