"""The instance's records: in memory, under one lock, with the platform's write rules.

Every row is a ``dict[str, str]`` of stored values. Password columns store an opaque
token; the plaintext lives beside the rows in ``secrets`` and never leaves the store
except to the keystore check. Attachment bytes live in ``blobs``.

Business rules hook in from outside: ``validators`` run before a write is kept (and may
refuse it with a :class:`Refusal`), ``after_write`` hooks run once it is kept.
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from ops.dev.sandbox import query as q
from ops.dev.sandbox.facts import SandboxFacts
from ops.dev.sandbox.index import Indexes
from ops.dev.sandbox.schema import Column, Schema, Table
from ops.dev.sandbox.values import coerce

__all__ = ["AfterWrite", "Refusal", "SandboxStore", "Validator", "now_text"]

Validator = Callable[["SandboxStore", str, dict[str, str], "dict[str, str] | None"], None]
# (store, table, row, changed columns (plus "inserted"/"deleted"/"attachment"), user)
AfterWrite = Callable[["SandboxStore", str, dict[str, str], set[str], str], None]

_SYS_ID = re.compile(r"[0-9a-f]{32}")


class Refusal(Exception):
    """The instance refuses a call: becomes the error envelope with this status."""

    def __init__(self, status: int, message: str, detail: str = "") -> None:
        super().__init__(f"{status} {message}: {detail}")
        self.status = status
        self.message = message
        self.detail = detail


def now_text() -> str:
    """The platform's date-time format, in UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _opaque() -> str:
    """What a password column reads back as: encrypted-looking, never the password."""
    return base64.b64encode(secrets.token_bytes(33)).decode()


class SandboxStore:
    """All tables of one sandbox instance."""

    def __init__(self, schema: Schema, facts: SandboxFacts) -> None:
        self.schema = schema
        self.facts = facts
        self.lock = threading.RLock()
        self.rows: dict[str, dict[str, dict[str, str]]] = {name: {} for name in schema}
        self.secrets: dict[tuple[str, str, str], str] = {}
        self.blobs: dict[str, bytes] = {}
        self.forbidden: set[tuple[str, str]] = set()
        self.validators: list[Validator] = []
        self.after_write: list[AfterWrite] = []
        self.indexes = Indexes(self.rows)

    # -- reading ---------------------------------------------------------------------

    def table(self, name: str) -> Table:
        return self.schema[name]

    def get(self, table: str, sys_id: str) -> dict[str, str] | None:
        with self.lock:
            row = self.rows[table].get(sys_id)
            return dict(row) if row is not None else None

    def select(self, table: str, encoded_query: str = "") -> list[dict[str, str]]:
        """Copies of the rows an encoded query selects (see :mod:`.query`)."""
        strict = self.property("glide.invalid_query.returns_no_rows") == "true"
        with self.lock:  # filter the stored rows first; copy only what is selected
            rows = self.rows[table].values()
            index = _TableIndex(self.indexes, table)
            query = q.parse(encoded_query)
            selected = q.run(query, rows, self.resolver(table), strict=strict, index=index)
            return [dict(r) for r in selected]

    def find(self, table: str, column: str, value: str) -> list[dict[str, str]]:
        """Copies of the rows whose plain ``column`` holds ``value`` (by index)."""
        with self.lock:
            return [dict(r) for r in self.indexes.find(table, column, value)]

    def walk(self, table: str, row: dict[str, str], path: str) -> tuple[Column, str] | None:
        """A (possibly dot-walked) field's column and stored value; None if invalid."""
        spec, current = self.schema[table], row
        *through, last = path.split(".")
        with self.lock:
            for part in through:
                col = spec.column(part)
                if col is None or not col.is_reference or col.reference not in self.schema:
                    return None
                spec = self.schema[col.reference]
                current = self.rows[spec.name].get(current.get(part, ""), {})
        col = spec.column(last)
        return None if col is None else (col, current.get(last, ""))

    def resolver(self, table: str) -> q.Resolver:
        """Field lookup for queries, with dot-walking through references."""

        spec = self.schema[table]

        def resolve(row: dict[str, str], path: str) -> str | None:
            if "." not in path:  # a plain column: no walk needed
                return None if spec.column(path) is None else row.get(path, "")
            found = self.walk(table, row, path)
            return None if found is None else found[1]

        return resolve

    def property(self, name: str) -> str:
        with self.lock:
            found = self.indexes.find("sys_properties", "name", name)
            return found[0]["value"] if found else ""

    def display_of(self, table: str, value: str) -> str:
        """The display value of a referenced record ("" if it is not here)."""
        spec = self.schema.get(table)
        with self.lock:
            row = self.rows[table].get(value) if spec else None
            return row[spec.display] if row and spec else ""

    def lookup_display(self, table: str, text: str) -> str | None:
        """The sys_id of the first record whose display value is ``text``."""
        spec = self.schema.get(table)
        if spec is None:
            return None
        with self.lock:
            found = self.indexes.find(table, spec.display, text)
            return found[0]["sys_id"] if found else None

    def secret(self, table: str, sys_id: str, column: str) -> str:
        with self.lock:
            return self.secrets.get((table, sys_id, column), "")

    def dump(self) -> dict[str, list[dict[str, str]]]:
        with self.lock:
            return {name: copy.deepcopy(list(rows.values())) for name, rows in self.rows.items()}

    # -- writing ---------------------------------------------------------------------

    def check_allowed(self, table: str, operation: str, row: Mapping[str, str] | None) -> None:
        """Refuse an operation that :meth:`forbid` blocked, the way a business rule does."""
        if (table, operation) not in self.forbidden:
            return
        if operation == "read":
            raise Refusal(
                403, "Operation Failed", "ACL Exception Read Failed due to security constraints"
            )
        verb = {"create": "insert"}.get(operation, operation)
        shown = row.get(self.schema[table].display, "") if row else ""
        raise Refusal(403, "Operation Failed", f"Error during {verb} of {table} ({shown})")

    def insert(
        self, table: str, values: Mapping[str, object], user: str, *, display_input: bool = False
    ) -> dict[str, str]:
        """Create a record; unknown fields are ignored, missing ones get their default."""
        spec = self.table(table)
        with self.lock:
            row = {name: col.default for name, col in spec.columns.items()}
            wanted = str(values.get("sys_id", ""))
            taken = wanted in self.rows[table]
            row["sys_id"] = wanted if _SYS_ID.fullmatch(wanted) and not taken else uuid.uuid4().hex
            pending: dict[str, str | None] = {}
            changed = self._apply(spec, row, values, pending, display_input, inserting=True)
            self.check_allowed(table, "create", row)
            for validate in self.validators:
                validate(self, table, row, None)
            stamp = now_text()
            row.update(
                sys_created_on=stamp,
                sys_updated_on=stamp,
                sys_created_by=user,
                sys_updated_by=user,
                sys_mod_count="0",
                sys_tags="",
            )
            self.rows[table][row["sys_id"]] = row
            self.indexes.changed(table, None, row)
            self._commit_secrets(table, row["sys_id"], pending)
            self._after(table, row, changed | {"inserted"}, user)
            return dict(row)

    def update(
        self,
        table: str,
        sys_id: str,
        values: Mapping[str, object],
        user: str,
        *,
        display_input: bool = False,
    ) -> dict[str, str] | None:
        """Change a record (PUT and PATCH alike); ``None`` if it does not exist."""
        spec = self.table(table)
        with self.lock:
            old = self.rows[table].get(sys_id)
            if old is None:
                return None
            row = dict(old)
            pending: dict[str, str | None] = {}
            changed = self._apply(spec, row, values, pending, display_input, inserting=False)
            self.check_allowed(table, "update", row)
            for validate in self.validators:
                validate(self, table, row, old)
            if changed:
                row.update(
                    sys_updated_on=now_text(),
                    sys_updated_by=user,
                    sys_mod_count=str(int(row["sys_mod_count"] or 0) + 1),
                )
            self.rows[table][sys_id] = row
            self.indexes.changed(table, old, row)
            self._commit_secrets(table, sys_id, pending)
            if changed:
                self._after(table, row, changed, user)
            return dict(row)

    def delete(self, table: str, sys_id: str, user: str) -> bool:
        """Delete a record and the attachments hanging off it."""
        with self.lock:
            row = self.rows[table].get(sys_id)
            if row is None:
                return False
            self.check_allowed(table, "delete", row)
            del self.rows[table][sys_id]
            self.indexes.changed(table, row, None)
            for column in self.schema[table].columns:
                self.secrets.pop((table, sys_id, column), None)
            if table == "sys_attachment":
                self.blobs.pop(sys_id, None)
            else:
                for att in self.select(
                    "sys_attachment", f"table_name={table}^table_sys_id={sys_id}"
                ):
                    self.rows["sys_attachment"].pop(att["sys_id"], None)
                    self.indexes.changed("sys_attachment", att, None)
                    self.blobs.pop(att["sys_id"], None)
            self._after(table, row, {"deleted"}, user)
            return True

    def set_stored(self, table: str, sys_id: str, values: Mapping[str, str]) -> None:
        """Set derived values the platform computes itself (no mod count, no hooks)."""
        with self.lock:
            row = self.rows[table][sys_id]
            old = dict(row)
            row.update(values)
            self.indexes.changed(table, old, row)

    # -- internals -------------------------------------------------------------------

    def _apply(
        self,
        spec: Table,
        row: dict[str, str],
        values: Mapping[str, object],
        pending: dict[str, str | None],
        display_input: bool,
        *,
        inserting: bool,
    ) -> set[str]:
        changed: set[str] = set()
        for name, raw in values.items():
            col = spec.column(name)
            if col is None or col.read_only:
                continue  # unknown and generated fields are ignored, as the platform does
            if col.is_password:
                self._check_clear_text(col, raw, display_input)
                if self._password(spec.name, row, col, raw, pending):
                    changed.add(name)
                continue
            value = coerce(col, raw, display_input=display_input, lookup=self.lookup_display)
            if col.choices and value == "" and not inserting:
                continue  # 5.2: sending "" does not clear a choice field
            if row.get(name) != value:
                row[name] = value
                changed.add(name)
        return changed

    def _check_clear_text(self, col: Column, raw: object, display_input: bool) -> None:
        """servicenow-api.md 10: clear text set on a Password2 field without the display
        value flag fails ("expecting encrypted data"), when the facts ask for it."""
        refuse = self.facts.password2_needs_display_value and col.internal_type == "password2"
        if refuse and raw not in (None, "") and not display_input:
            raise Refusal(
                400,
                "Operation Failed",
                f"{col.name}: expecting encrypted data; set it with sysparm_input_display_value",
            )

    def _password(
        self,
        table: str,
        row: dict[str, str],
        col: Column,
        raw: object,
        pending: dict[str, str | None],
    ) -> bool:
        text = "" if raw is None else str(raw)
        current = self.secrets.get((table, row["sys_id"], col.name))
        if text == row.get(col.name) and text != "":
            return False  # the opaque value read back and written again
        if text == (current or ""):
            return False
        row[col.name] = _opaque() if text else ""
        pending[col.name] = text or None
        return True

    def _commit_secrets(self, table: str, sys_id: str, pending: dict[str, str | None]) -> None:
        for column, value in pending.items():
            if value is None:
                self.secrets.pop((table, sys_id, column), None)
            else:
                self.secrets[(table, sys_id, column)] = value

    def _after(self, table: str, row: dict[str, str], changed: set[str], user: str) -> None:
        for hook in self.after_write:
            hook(self, table, dict(row), changed, user)


class _TableIndex:
    """One table's view of the store's indexes, for :func:`query.run`."""

    def __init__(self, indexes: Indexes, table: str) -> None:
        self._indexes, self._table = indexes, table

    def count(self, field: str, value: str) -> int:
        return self._indexes.count(self._table, field, value)

    def find(self, field: str, value: str) -> list[dict[str, str]]:
        return self._indexes.find(self._table, field, value)
