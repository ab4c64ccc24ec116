"""Translate the backend-neutral search query into SQLite (https://hl7.org/fhir/R4/search.html).

Each criterion becomes one condition on a ``resources`` row alias: a clause is an
``alias.rid IN (…)`` sub-select on the index table of its type, its values OR-ed inside;
chains and ``_has`` nest sub-selects over ``idx_reference``. Sort keys are per-row
aggregates of index values, so that keyset paging works for any sort.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import orjson

from fhir_server.fhir.search.query import (
    AllOf,
    AnyOf,
    Chain,
    Clause,
    CodeSetValue,
    Criterion,
    InCompartment,
    Not,
    QuantityValue,
    RangeValue,
    ReferenceValue,
    ReverseChain,
    SortKey,
    StringValue,
    TokenValue,
    UriValue,
)
from fhir_server.fhir.search.ranges import mergeable_date, prefix_bounds, range_limits
from fhir_server.store.sqlite_schema import SPAN_CLASS, SPAN_CLASS_LIMITS

TABLE_FOR_KIND = {
    "token": "idx_token",
    "string": "idx_string",
    "date": "idx_date",
    "reference": "idx_reference",
    "uri": "idx_uri",
    "number": "idx_number",
    "quantity": "idx_quantity",
    "composite": "idx_token",
}
_MAX_CHAR = "\U0010ffff"
_HUGE = 9.0e18
SQL = tuple[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition on a resources row; ``rids`` is its sub-select when it reads
    ``alias.rid IN (rids)`` — index rows exist only for current resources, so a count can
    be answered from such sub-selects alone. ``probe`` is the same test as a correlated
    ``EXISTS`` on the index table's ``rid`` index, for a row found by another condition, and
    ``rank`` says how selective the condition usually is (lower: fewer rows, see ``_RANK``)."""

    sql: str
    args: list[Any]
    rids: SQL | None = None
    probe: SQL | None = None
    rank: int = 9


def _rid_in(alias: str, select: str, args: list[Any], rank: int = 9) -> Condition:
    return Condition(f"{alias}.rid IN ({select})", args, (select, args), rank=rank)


# How selective a criterion of a kind usually is, most first: a reference names one resource
# (subject=Patient/x), a token with a system is an identifier or a code, one without a system a
# status or a gender, which may match most resources of its type.
_RANK = {"reference": 1, "token-system": 2, "string": 3, "uri": 3, "composite": 3, "date": 4, "number": 4}


def _clause_rank(clause: Clause) -> int:
    if clause.kind == "token":
        with_system = all(isinstance(v, TokenValue) and v.system_given and v.system for v in clause.values)
        return _RANK["token-system"] if with_system else 5
    return _RANK.get(clause.kind, 4)


def start_from_most_selective(conditions: list[Condition]) -> list[Condition]:
    """SQLite lists every row of each ``rid IN (…)`` sub-select in full before it filters, so one
    unselective criterion (``status=active``: 760,000 Claims) costs ~100 ms however selective the
    others are. Keep the most selective one as the list to start from and test the others row by
    row (``probe``): ``Claim?patient=x&status=active`` 125 ms → 0.02 ms on 1M resources."""
    listed = [c for c in conditions if c.rids is not None]
    if len(listed) < 2:  # (an _id is no place to start: the search makes the type unindexable)
        return conditions
    driver = min(listed, key=lambda c: c.rank)
    return [c if c is driver or c.probe is None else Condition(c.probe[0], c.probe[1], rank=c.rank) for c in conditions]


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def range_condition(value: RangeValue | QuantityValue, low: str, high: str) -> SQL:
    """R4 prefix semantics on the columns holding the resource's range."""
    columns = {"low": low, "high": high}
    bounds = prefix_bounds(value)
    cond = " AND ".join(f"{columns[side]} {op} ?" for side, op, _ in bounds)
    args = [bound for _, _, bound in bounds]
    return (f"NOT ({cond})", args) if value.prefix == "ne" else (cond, args)


def _token(value: TokenValue | CodeSetValue, modifier: str | None) -> SQL:
    if isinstance(value, CodeSetValue):
        codes = orjson.dumps(sorted({code for _, code in value.codes})).decode()
        pairs = orjson.dumps(sorted(f"{system or ''}|{code}" for system, code in value.codes)).decode()
        return (
            "code IN (SELECT value FROM json_each(?)) AND (coalesce(system, '') || '|' || code) IN "
            "(SELECT value FROM json_each(?))",
            [codes, pairs],
        )
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


def _string(value: StringValue, modifier: str | None) -> SQL:
    if modifier == "exact":
        return "raw = ?", [value.raw]
    if modifier == "contains":
        return "instr(value, ?) > 0", [value.normalized]
    return "value >= ? AND value < ?", [value.normalized, value.normalized + _MAX_CHAR]


def _reference(value: ReferenceValue, modifier: str | None) -> SQL:
    if value.url is not None:
        return "url = ?", [value.url]
    parts, args = ["target_id = ?"], [value.target_id]
    target_type = value.target_type or (modifier if modifier and modifier[0].isupper() else None)
    if target_type:
        parts.append("target_type = ?")
        args.append(target_type)
    return " AND ".join(parts), args


def _seek_target_ids(clause: Clause, cond: str, args: list[Any]) -> SQL:
    """An OR of (target_id, target_type) pairs cannot seek ``idx_reference_target_rid`` past
    (type, param): SQLite scans every reference of the parameter (all 600,000 CareTeam
    participants of a 1M store, ~100 ms) to find a practitioner's 23 teams. A leading
    ``target_id IN (…)`` lets it seek each id (~0.1 ms); the pairs then only filter."""
    if any(v.url is not None or v.target_id is None for v in clause.values):  # type: ignore[union-attr]
        return cond, args
    ids = sorted({v.target_id for v in clause.values})  # type: ignore[union-attr]
    marks = ", ".join("?" for _ in ids)
    # args = [type, param, <pair args…>]: the seek goes between (type, param) and the pairs
    return f"target_id IN ({marks}) AND ({cond})", [*args[:2], *ids, *args[2:]]


def _uri(value: UriValue, modifier: str | None) -> SQL:
    if modifier == "below":
        prefix = value.value.rstrip("/") + "/"
        return "(value = ? OR (value >= ? AND value < ?))", [value.value, prefix, prefix + _MAX_CHAR]
    if modifier == "above":
        return "substr(?, 1, length(value)) = value", [value.value]
    return "value = ?", [value.value]


def _quantity(value: QuantityValue) -> SQL:
    cond, args = range_condition(value, "low", "high")
    if value.system is not None:
        cond += " AND system = ?"
        args.append(value.system)
    if value.code is not None:
        cond += " AND code = ?"
        args.append(value.code)
    return cond, args


def _value_condition(kind: str, value: Any, modifier: str | None) -> SQL:
    if kind in ("token", "composite"):
        return _token(value, modifier)
    if kind == "string":
        return _string(value, modifier)
    if kind in ("date", "number"):
        return range_condition(value, "low", "high")
    if kind == "quantity":
        return _quantity(value)
    if kind == "reference":
        return _reference(value, modifier)
    return _uri(value, modifier)


def _date_range(values: list[RangeValue], resource_type: str, param: str, alias: str) -> Condition:
    """Date clauses of one parameter in one sub-select. When they bound the range from both
    sides (``low <= upper`` and ``high >= lower``), each span class of index rows is scanned
    from ``lower - its longest span``: a 30-day window reads about 30 days of rows, not all
    rows on one side of it."""
    parts = [range_condition(v, "low", "high") for v in values]
    cond = " AND ".join(f"({c})" for c, _ in parts)
    args = [a for _, part_args in parts for a in part_args]
    lower, upper = range_limits(values)
    base = "SELECT rid FROM idx_date WHERE type = ? AND param = ?"
    if lower is None or upper is None:
        return _rid_in(alias, f"{base} AND {cond}", [resource_type, param, *args])
    selects, select_args = [], []
    for span_class, longest in enumerate(SPAN_CLASS_LIMITS):
        bound = f" AND low >= {lower - longest}" if longest is not None else ""
        selects.append(f"{base} AND {SPAN_CLASS} = {span_class} AND low <= ?{bound} AND {cond}")
        select_args += [resource_type, param, upper, *args]
    return _rid_in(alias, " UNION ALL ".join(selects), select_args)


def driving_criterion(criterion: Criterion) -> bool:
    """True when the criterion's condition is ``alias.rid IN (…)``: a good place to start."""
    if isinstance(criterion, (Chain, InCompartment)):
        return True
    if isinstance(criterion, AllOf):
        return any(driving_criterion(c) for c in criterion.criteria)
    if isinstance(criterion, Clause):
        negated = criterion.modifier in ("not", "not-in") or criterion.missing is True
        return criterion.kind not in ("id", "lastUpdated") and not negated
    return False


class SqlTranslator:
    """Builds conditions with fresh table aliases, so criteria can nest to any depth."""

    def __init__(self) -> None:
        self._aliases = itertools.count(1)

    def criteria(self, criteria: tuple[Criterion, ...], resource_type: str, alias: str) -> list[Condition]:
        """One condition per criterion, except that single-valued date clauses on one parameter
        (``date=ge2024-01-01&date=lt2024-02-01``) share one sub-select, so that the range is
        one index scan rather than an intersection of two large sets. For a resource with
        several values of that date, they must then hold for one and the same value."""
        conditions: list[Condition] = []
        ranges: dict[str, list[Clause]] = {}
        for criterion in criteria:
            if mergeable_date(criterion):
                ranges.setdefault(criterion.param, []).append(criterion)  # type: ignore[union-attr]
            else:
                conditions.append(self.criterion(criterion, resource_type, alias))
        for param, clauses in ranges.items():
            values: list[RangeValue] = [c.values[0] for c in clauses]  # type: ignore[misc]
            conditions.append(_date_range(values, resource_type, param, alias))
        return conditions

    def criterion(self, criterion: Criterion, resource_type: str, alias: str) -> Condition:
        if isinstance(criterion, Chain):
            return self._chain(criterion, resource_type, alias)
        if isinstance(criterion, ReverseChain):
            return self._reverse_chain(criterion, resource_type, alias)
        if isinstance(criterion, InCompartment):
            return _in_compartment(criterion, resource_type, alias)
        if isinstance(criterion, AllOf | AnyOf):
            parts = [self.criterion(c, resource_type, alias) for c in criterion.criteria]
            if not parts:
                return Condition("1" if isinstance(criterion, AllOf) else "0", [])
            joiner = " AND " if isinstance(criterion, AllOf) else " OR "
            return Condition("(" + joiner.join(p.sql for p in parts) + ")", [a for p in parts for a in p.args])
        if isinstance(criterion, Not):
            inner = self.criterion(criterion.criterion, resource_type, alias)
            return Condition(f"NOT ({inner.sql})", inner.args)
        return self._clause(criterion, resource_type, alias)

    def _clause(self, clause: Clause, resource_type: str, alias: str) -> Condition:
        if clause.kind == "id":
            marks = ", ".join("?" for _ in clause.values)
            negate = "NOT " if clause.modifier == "not" else ""
            return Condition(f"{alias}.id {negate}IN ({marks})", [v.code for v in clause.values])  # type: ignore[union-attr]
        if clause.kind == "lastUpdated":
            ors = [range_condition(v, f"{alias}.lu_us", f"{alias}.lu_us") for v in clause.values]  # type: ignore[arg-type]
            return Condition("(" + " OR ".join(f"({c})" for c, _ in ors) + ")", [a for _, args in ors for a in args])
        table = TABLE_FOR_KIND[clause.kind]
        base = f"SELECT rid FROM {table} WHERE type = ? AND param = ?"
        base_args: list[Any] = [resource_type, clause.param]
        if clause.missing is True:
            return Condition(f"{alias}.rid NOT IN ({base})", base_args)
        if clause.missing is False:
            return _rid_in(alias, base, base_args)
        ors = [_value_condition(clause.kind, v, clause.modifier) for v in clause.values]
        cond = " OR ".join(f"({c})" for c, _ in ors)
        args = base_args + [a for _, vargs in ors for a in vargs]
        if clause.kind == "reference" and len(ors) > 1:
            cond, args = _seek_target_ids(clause, cond, args)
        if clause.modifier in ("not", "not-in"):
            return Condition(f"{alias}.rid NOT IN ({base} AND ({cond}))", args)
        listed = _rid_in(alias, f"{base} AND ({cond})", args, _clause_rank(clause))
        probe = (
            f"EXISTS (SELECT 1 FROM {table} INDEXED BY {table}_rid WHERE rid = {alias}.rid "
            f"AND type = ? AND param = ? AND ({cond}))"
        )
        return replace(listed, probe=(probe, args))

    def _chain(self, chain: Chain, resource_type: str, alias: str) -> Condition:
        """Nested IN sub-selects: targets matching the inner criterion → references to them."""
        selects, args = [], []
        for target_type, inner in chain.branches:
            n = next(self._aliases)
            t, ref = f"t{n}", f"ref{n}"
            inner_condition = self.criterion(inner, target_type, t)
            inner_sql, inner_args = inner_condition.sql, inner_condition.args
            selects.append(
                f"SELECT {ref}.rid FROM idx_reference {ref} WHERE {ref}.type = ? AND {ref}.param = ? "
                f"AND {ref}.target_type = ? AND {ref}.target_id IN (SELECT {t}.id FROM resources {t} "
                f"WHERE {_type_condition(t, inner)} AND {t}.body IS NOT NULL AND {inner_sql})"
            )
            args += [resource_type, chain.param, target_type, target_type, *inner_args]
        return _rid_in(alias, " UNION ".join(selects), args)

    def _reverse_chain(self, chain: ReverseChain, resource_type: str, alias: str) -> Condition:
        """Sources matching the inner criterion → the ids their references point to."""
        n = next(self._aliases)
        s, ref = f"s{n}", f"ref{n}"
        inner = self.criterion(chain.inner, chain.source_type, s)
        inner_sql, inner_args = inner.sql, inner.args
        return Condition(
            f"{alias}.id IN (SELECT {ref}.target_id FROM idx_reference {ref} WHERE {ref}.param = ? "
            f"AND {ref}.target_type = ? AND {ref}.rid IN (SELECT {s}.rid FROM resources {s} "
            f"WHERE {_type_condition(s, chain.inner)} AND {s}.body IS NOT NULL AND {inner_sql}))",
            [chain.param, resource_type, chain.source_type, *inner_args],
        )


def _in_compartment(criterion: InCompartment, resource_type: str, alias: str) -> Condition:
    params = ", ".join("?" for _ in criterion.params)
    ids = ", ".join("?" for _ in criterion.ids)
    select = (
        f"SELECT rid FROM idx_reference WHERE type = ? AND param IN ({params}) "
        f"AND target_type = ? AND target_id IN ({ids})"
    )
    args = [resource_type, *criterion.params, criterion.compartment_type, *criterion.ids]
    # a few patients' records are as selective as a reference; a GP's hundreds are not (a matricule is)
    return _rid_in(alias, select, args, rank=_RANK["reference"] if len(criterion.ids) <= 20 else _RANK["string"])


def _type_condition(alias: str, criterion: Criterion) -> str:
    """``alias.type = ?``, unindexable ("+") when the criterion is the better way in: otherwise
    SQLite may walk every resource of the type through the type index."""
    return f"{'+' if driving_criterion(criterion) else ''}{alias}.type = ?"


_SORT_COLUMN = {
    "token": "code",
    "composite": "code",
    "string": "value",
    "reference": "target_id",
    "uri": "value",
}


def sort_expression(key: SortKey, alias: str) -> str:
    """A per-row sort value; resources without a value sort last in either direction."""
    if key.kind == "id":
        return f"{alias}.id"
    if key.kind == "lastUpdated":
        return f"{alias}.lu_us"
    table = TABLE_FOR_KIND[key.kind]
    aggregate = "max" if key.descending else "min"
    if key.kind in ("date", "number", "quantity"):
        column = "high" if key.descending else "low"
        missing = -_HUGE if key.descending else _HUGE
    else:
        column = _SORT_COLUMN[key.kind]
        missing = "''" if key.descending else sql_literal(_MAX_CHAR)
    return (
        f"coalesce((SELECT {aggregate}({column}) FROM {table} WHERE rid = {alias}.rid "
        f"AND param = {sql_literal(key.param)}), {missing})"
    )


def keyset_condition(keys: list[tuple[str, bool]], values: list[Any], *, after: bool) -> SQL:
    """Rows strictly after (or before) ``values`` in the order of ``keys`` (expression, descending)."""
    ors, args = [], []
    for i, (expr, descending) in enumerate(keys):
        parts = [f"{e} = ?" for e, _ in keys[:i]]
        args += values[:i]
        greater = after != descending
        parts.append(f"{expr} {'>' if greater else '<'} ?")
        args.append(values[i])
        ors.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(ors), args
