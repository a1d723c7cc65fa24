"""Encoded queries (``sysparm_query``): parse, then filter and order rows.

Supported: ``=``, ``!=``, ``LIKE``, ``NOTLIKE``, ``STARTSWITH``, ``ENDSWITH``, ``IN``,
``NOT IN``, ``ISEMPTY``, ``ISNOTEMPTY``, ``>``, ``>=``, ``<``, ``<=``, ``^`` (and), ``^OR``
(or with the previous condition), ``^NQ`` (a new query, or-ed with the others),
``ORDERBY<field>`` and ``ORDERBYDESC<field>``, and dot-walking through references.

The faithful pitfall (servicenow-api.md 5.2): a condition naming a field the table does
not have, or with an operator the platform does not know, is silently dropped, so the
query matches more rows. With ``strict`` (the property
``glide.invalid_query.returns_no_rows`` set to true) such a query matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Condition", "Index", "Query", "Resolver", "parse", "run"]

# Longest first, so that NOTLIKE wins over LIKE and != over =.
_OPERATORS = (
    "ISNOTEMPTY",
    "ISEMPTY",
    "NOTLIKE",
    "LIKE",
    "STARTSWITH",
    "ENDSWITH",
    "NOT IN",
    "IN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
)
_FIELD = re.compile(r"[a-z_][a-z0-9_.]*")

# Given a row and a (possibly dot-walked) field, the stored value, or None if the
# table has no such field.
Resolver = Callable[[dict[str, str], str], "str | None"]


class Index(Protocol):
    """One table's equality lookups: how many rows hold a value, and those rows."""

    def count(self, field: str, value: str) -> int: ...

    def find(self, field: str, value: str) -> list[dict[str, str]]: ...


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str


@dataclass(frozen=True)
class Query:
    """Or-ed groups (``^NQ``) of and-ed clauses, each clause a list of or-ed conditions."""

    groups: tuple[tuple[tuple[Condition | None, ...], ...], ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)


def _condition(term: str) -> Condition | None:
    match = _FIELD.match(term)
    if match is None:
        return None
    field, rest = match.group(), term[match.end() :]
    for op in _OPERATORS:
        if rest.startswith(op):
            return Condition(field, op, rest[len(op) :])
    return None


def parse(text: str) -> Query:
    """Parse an encoded query; an unparsable term becomes ``None`` (dropped later)."""
    groups: list[tuple[tuple[Condition | None, ...], ...]] = []
    order: list[tuple[str, bool]] = []
    for group_text in text.split("^NQ"):
        clauses: list[list[Condition | None]] = []
        for term in group_text.split("^"):
            if not term or term == "EQ":
                continue
            if term.startswith("ORDERBYDESC"):
                order.append((term[len("ORDERBYDESC") :], True))
            elif term.startswith("ORDERBY"):
                order.append((term[len("ORDERBY") :], False))
            elif term.startswith("OR") and clauses:
                clauses[-1].append(_condition(term[2:]))
            else:
                clauses.append([_condition(term)])
        groups.append(tuple(tuple(c) for c in clauses))
    return Query(tuple(groups), tuple(order))


def _compare(op: str, actual: str, wanted: str) -> bool:
    try:
        left: float | str = float(actual)
        right: float | str = float(wanted)
    except ValueError:
        left, right = actual, wanted
    if op == ">":
        return left > right  # type: ignore[operator]
    if op == ">=":
        return left >= right  # type: ignore[operator]
    if op == "<":
        return left < right  # type: ignore[operator]
    return left <= right  # type: ignore[operator]


def _matches(cond: Condition, actual: str) -> bool:
    op, wanted = cond.op, cond.value
    if op == "=":
        return actual == wanted
    if op == "!=":
        return actual != wanted
    if op == "LIKE":
        return wanted in actual
    if op == "NOTLIKE":
        return wanted not in actual
    if op == "STARTSWITH":
        return actual.startswith(wanted)
    if op == "ENDSWITH":
        return actual.endswith(wanted)
    if op in ("IN", "NOT IN"):
        return (actual in wanted.split(",")) == (op == "IN")
    if op == "ISEMPTY":
        return actual == ""
    if op == "ISNOTEMPTY":
        return actual != ""
    return _compare(op, actual, wanted)


def _valid(cond: Condition | None, probe: dict[str, str], resolve: Resolver) -> bool:
    return cond is not None and resolve(probe, cond.field) is not None


def _row_matches(
    groups: Sequence[Sequence[Sequence[Condition]]], row: dict[str, str], resolve: Resolver
) -> bool:
    if not groups:
        return True
    return any(
        all(any(_matches(c, resolve(row, c.field) or "") for c in clause) for clause in group)
        for group in groups
    )


def _sort(
    rows: list[dict[str, str]], order: Sequence[tuple[str, bool]], resolve: Resolver
) -> list[dict[str, str]]:
    for field, descending in reversed(order):
        values = [resolve(row, field) or "" for row in rows]
        numeric = all(re.fullmatch(r"-?\d+(\.\d+)?", v) for v in values if v)
        ranked = sorted(
            zip(values, range(len(rows)), strict=True),
            key=lambda pair: float(pair[0] or 0) if numeric else pair[0],
            reverse=descending,
        )
        rows = [rows[i] for _, i in ranked]
    return rows


def _narrowed(
    groups: Sequence[Sequence[Sequence[Condition]]],
    rows: Collection[dict[str, str]],
    index: Index | None,
) -> Iterable[dict[str, str]]:
    """The rows that can match, found by index: in a query of one group, a lone
    ``field=value`` clause on a plain column matches only the rows holding that value
    (of several such clauses, the one holding fewest). A real instance has indexes; an
    emulator that slows with its size would skew what is measured against it."""
    if index is None or len(groups) != 1:
        return rows
    best: tuple[int, str, str] | None = None
    for clause in groups[0]:
        if len(clause) == 1 and clause[0].op == "=" and "." not in clause[0].field:
            field, value = clause[0].field, clause[0].value
            holding = index.count(field, value)
            if best is None or holding < best[0]:
                best = (holding, field, value)
    return rows if best is None else index.find(best[1], best[2])


def run(
    query: Query,
    rows: Collection[dict[str, str]],
    resolve: Resolver,
    *,
    strict: bool,
    index: Index | None = None,
) -> list[dict[str, str]]:
    """The rows the query selects, in the order it asks for (else insertion order).

    ``index``: the table's equality index, if it has one (the rows it finds are in
    insertion order too)."""
    probe = next(iter(rows), {})
    groups: list[list[list[Condition]]] = []
    for group in query.groups:
        kept: list[list[Condition]] = []
        for clause in group:
            valid = [c for c in clause if c is not None and _valid(c, probe, resolve)]
            if len(valid) != len(clause) and strict:
                return []
            if valid:
                kept.append(valid)
        groups.append(kept)
    candidates = _narrowed(groups, rows, index)
    selected = [row for row in candidates if _row_matches(groups, row, resolve)]
    order = [(f, d) for f, d in query.order if resolve(probe, f) is not None]
    return _sort(selected, order, resolve)
