"""How written values are stored and how stored values are rendered.

Everything is stored as a string, as the platform returns it: booleans as "true"/"false",
numbers as decimal strings, references as the referenced sys_id, choices as their stored
value. Rendering follows ``sysparm_display_value`` (false / true / all) and
``sysparm_exclude_reference_link``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ops.dev.sandbox.schema import Column

__all__ = ["DisplayMode", "as_text", "coerce", "display_mode", "render"]

DisplayMode = Literal["false", "true", "all"]

# (referenced table, display text) -> sys_id, or None when nothing has that display value.
DisplayLookup = Callable[[str, str], "str | None"]
# (referenced table, stored value) -> display value.
DisplayOf = Callable[[str, str], str]


def display_mode(raw: str | None) -> DisplayMode:
    """``sysparm_display_value``; anything unknown means false, as on the platform."""
    value = (raw or "false").lower()
    if value == "true":
        return "true"
    if value == "all":
        return "all"
    return "false"


def as_text(raw: object) -> str:
    """A JSON value as the platform would store it in a string column."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dict):
        # A reference echoed back as {"link": ..., "value": ...}.
        return as_text(raw.get("value", raw.get("sys_id", "")))
    if isinstance(raw, list):
        return ",".join(as_text(item) for item in raw)
    return str(raw)


def coerce(column: Column, raw: object, *, display_input: bool, lookup: DisplayLookup) -> str:
    """The value stored when ``raw`` is written to ``column``."""
    text = as_text(raw)
    if column.internal_type == "boolean":
        return "true" if text.strip().lower() in ("true", "1") else "false"
    if column.internal_type == "integer":
        stripped = text.strip().replace(",", "") if display_input else text.strip()
        try:
            return str(int(float(stripped)))
        except ValueError:
            return ""
    if display_input and column.choices:
        for value, label in column.choices:
            if text == label:
                return value
    if display_input and column.is_reference and text:
        found = lookup(column.reference, text)
        if found is not None:
            return found
    return text


def _display(column: Column, stored: str, display_of: DisplayOf) -> str:
    if column.choices:
        return next((label for value, label in column.choices if value == stored), stored)
    if column.is_reference and column.reference_key != "sys_id":
        return stored  # keyed by name (sys_dictionary.internal_type): the name shows
    if column.is_reference:
        return display_of(column.reference, stored) if stored else ""
    if column.internal_type == "integer" and stored.lstrip("-").isdigit():
        return f"{int(stored):,}"
    return stored


def _link(column: Column, stored: str, base_url: str) -> str:
    key = "" if column.reference_key == "sys_id" else f"{column.reference_key}="
    return f"{base_url}/api/now/table/{column.reference}/{key}{stored}"


def render(
    column: Column,
    stored: str,
    *,
    mode: DisplayMode,
    exclude_link: bool,
    base_url: str,
    display_of: DisplayOf,
) -> object:
    """One field of a Table API answer."""
    linked = column.is_reference and stored != "" and not exclude_link
    if mode == "false":
        return {"link": _link(column, stored, base_url), "value": stored} if linked else stored
    shown = _display(column, stored, display_of)
    if mode == "true":
        return (
            {"display_value": shown, "link": _link(column, stored, base_url)} if linked else shown
        )
    out: dict[str, str] = {"display_value": shown, "value": stored}
    if linked:
        out["link"] = _link(column, stored, base_url)
    return out
