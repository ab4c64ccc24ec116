"""Translate the backend-neutral :class:`SearchQuery` into SQLite conditions.

Each clause becomes one ``r.rid IN (…)`` sub-select on the index table of its type;
the values of a clause are OR-ed inside it (https://hl7.org/fhir/R4/search.html).
"""

from __future__ import annotations

from typing import Any

from fhir_server.fhir.search.query import (
    Clause,
    DateValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)

TABLE_FOR_KIND = {
    "token": "idx_token",
    "string": "idx_string",
    "date": "idx_date",
    "reference": "idx_reference",
    "uri": "idx_uri",
}
_MAX_CHAR = "\U0010ffff"


def _token(value: TokenValue, modifier: str | None) -> tuple[str, list[Any]]:
    if modifier == "text":
        return "instr(text, ?) > 0", [value.code or ""]
    parts: list[str] = []
    args: list[Any] = []
    if value.code is not None:
        parts.append("code = ?")
        args.append(value.code)
    if value.system_given:
        if value.system is None:
            parts.append("system IS NULL")
        else:
            parts.append("system = ?")
            args.append(value.system)
    return " AND ".join(parts) or "1", args


def _string(value: StringValue, modifier: str | None) -> tuple[str, list[Any]]:
    if modifier == "exact":
        return "raw = ?", [value.raw]
    if modifier == "contains":
        return "instr(value, ?) > 0", [value.normalized]
    return "value >= ? AND value < ?", [value.normalized, value.normalized + _MAX_CHAR]


def date_condition(value: DateValue, low: str, high: str) -> tuple[str, list[Any]]:
    """Range semantics of the R4 prefixes, resource range [low, high] vs the value's range."""
    p, sl, sh = value.prefix, value.low, value.high
    if p == "eq":
        return f"{low} >= ? AND {high} <= ?", [sl, sh]
    if p == "ne":
        return f"NOT ({low} >= ? AND {high} <= ?)", [sl, sh]
    if p == "gt":
        return f"{high} > ?", [sh]
    if p == "lt":
        return f"{low} < ?", [sl]
    if p == "ge":
        return f"{high} >= ?", [sl]
    if p == "le":
        return f"{low} <= ?", [sh]
    if p == "sa":
        return f"{low} > ?", [sh]
    if p == "eb":
        return f"{high} < ?", [sl]
    # ap: overlaps the value's range (the parser has already widened it)
    return f"{low} <= ? AND {high} >= ?", [sh, sl]


def _reference(value: ReferenceValue, modifier: str | None) -> tuple[str, list[Any]]:
    if value.url is not None:
        return "url = ?", [value.url]
    parts, args = ["target_id = ?"], [value.target_id]
    target_type = value.target_type or (modifier if modifier and modifier[0].isupper() else None)
    if target_type:
        parts.append("target_type = ?")
        args.append(target_type)
    return " AND ".join(parts), args


def _uri(value: UriValue, modifier: str | None) -> tuple[str, list[Any]]:
    if modifier == "below":
        return "(value = ? OR (value >= ? AND value < ?))", [
            value.value,
            value.value.rstrip("/") + "/",
            value.value.rstrip("/") + "/" + _MAX_CHAR,
        ]
    if modifier == "above":
        return "? >= value AND substr(?, 1, length(value)) = value", [value.value, value.value]
    return "value = ?", [value.value]


def _value_condition(kind: str, value: Any, modifier: str | None) -> tuple[str, list[Any]]:
    if kind == "token":
        return _token(value, modifier)
    if kind == "string":
        return _string(value, modifier)
    if kind == "date":
        return date_condition(value, "low", "high")
    if kind == "reference":
        return _reference(value, modifier)
    return _uri(value, modifier)


def clause_condition(clause: Clause, resource_type: str) -> tuple[str, list[Any]]:
    """SQL condition on the ``resources r`` row for one clause."""
    if clause.kind == "id":
        marks = ", ".join("?" for _ in clause.values)
        negate = "NOT " if clause.modifier == "not" else ""
        return f"r.id {negate}IN ({marks})", [v.code for v in clause.values]  # type: ignore[union-attr]
    if clause.kind == "lastUpdated":
        ors = [date_condition(v, "r.lu_us", "r.lu_us") for v in clause.values]  # type: ignore[arg-type]
        return "(" + " OR ".join(f"({c})" for c, _ in ors) + ")", [a for _, args in ors for a in args]
    table = TABLE_FOR_KIND[clause.kind]
    base = f"SELECT rid FROM {table} WHERE type = ? AND param = ?"
    base_args: list[Any] = [resource_type, clause.param]
    if clause.missing is not None:
        op = "NOT IN" if clause.missing else "IN"
        return f"r.rid {op} ({base})", base_args
    ors = [_value_condition(clause.kind, v, clause.modifier) for v in clause.values]
    cond = " OR ".join(f"({c})" for c, _ in ors)
    args = base_args + [a for _, vargs in ors for a in vargs]
    op = "NOT IN" if clause.modifier == "not" else "IN"
    return f"r.rid {op} ({base} AND ({cond}))", args
