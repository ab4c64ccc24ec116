"""Translate the backend-neutral search query into MongoDB filters (https://hl7.org/fhir/R4/search.html).

Each clause becomes one ``$elemMatch`` on the embedded index array of its kind (its
values OR-ed); chains and ``_has`` run in two steps — find the ids matching the inner
criterion, then match references to them (or the ids that references point to) — with a
bound on the ids one step may carry. The semantics mirror :mod:`.sqlite_search` exactly.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fhir_server.errors import Unprocessable
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
from fhir_server.fhir.search.ranges import mergeable_date, prefix_bounds
from fhir_server.store.mongo_schema import ARRAY_FOR_KIND, field_name

_MAX_CHAR = "\U0010ffff"
_HUGE = 9.0e18
MAX_CHAIN_IDS = 50_000
"""Ids one step of a chain or _has may carry to the next; beyond, the search is refused (422)."""

Filter = dict[str, Any]
IdLookup = Callable[[str, Filter], Awaitable[list[str]]]
"""(resource type, filter) → ids of current resources of that type matching the filter."""
RefLookup = Callable[[str, Filter, str, str], Awaitable[list[str]]]
"""(source type, filter, param, target type) → target ids the matching sources reference."""


_MONGO = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_NEGATED = {"<": "$gte", "<=": "$gt", ">": "$lte", ">=": "$lt"}


def range_filter(value: RangeValue | QuantityValue, low: str = "lo", high: str = "hi") -> Filter:
    """R4 prefix semantics on the fields holding the resource's range (they may be one field)."""
    fields = {"low": low, "high": high}
    bounds = prefix_bounds(value)
    if value.prefix == "ne":
        return {"$or": [{fields[side]: {_NEGATED[op]: bound}} for side, op, bound in bounds]}
    out: Filter = {}
    for side, op, bound in bounds:
        out.setdefault(fields[side], {})[_MONGO[op]] = bound
    return out


def _token(value: TokenValue | CodeSetValue, modifier: str | None) -> Filter:
    if isinstance(value, CodeSetValue):
        return {
            "c": {"$in": sorted({code for _, code in value.codes})},
            "sc": {"$in": sorted(f"{system or ''}|{code}" for system, code in value.codes)},
        }
    if modifier == "text":
        return {"t": {"$regex": re.escape(value.code or "")}}
    cond: Filter = {}
    if value.code is not None:
        cond["c"] = value.code
    if value.system_given:
        cond["s"] = value.system  # None matches a missing system too, as SQL "IS NULL"
    return cond


def _string(value: StringValue, modifier: str | None) -> Filter:
    if modifier == "exact":
        return {"r": value.raw}
    if modifier == "contains":
        return {"v": {"$regex": re.escape(value.normalized)}}
    return {"v": {"$gte": value.normalized, "$lt": value.normalized + _MAX_CHAR}}


def _reference(value: ReferenceValue, modifier: str | None) -> Filter:
    if value.url is not None:
        return {"u": value.url}
    cond: Filter = {"ti": value.target_id}
    target_type = value.target_type or (modifier if modifier and modifier[0].isupper() else None)
    if target_type:
        cond["tt"] = target_type
    return cond


def _uri(value: UriValue, modifier: str | None) -> Filter:
    if modifier == "below":
        prefix = value.value.rstrip("/") + "/"
        return {"$or": [{"v": value.value}, {"v": {"$gte": prefix, "$lt": prefix + _MAX_CHAR}}]}
    if modifier == "above":  # stored values that are a prefix of the searched one
        return {"v": {"$in": [value.value[:n] for n in range(1, len(value.value) + 1)]}}
    return {"v": value.value}


def _quantity(value: QuantityValue) -> Filter:
    cond = range_filter(value)
    if value.system is not None:
        cond["s"] = value.system
    if value.code is not None:
        cond["c"] = value.code
    return cond


def value_filter(kind: str, value: Any, modifier: str | None) -> Filter:
    if kind in ("token", "composite"):
        return _token(value, modifier)
    if kind == "string":
        return _string(value, modifier)
    if kind in ("date", "number"):
        return range_filter(value)
    if kind == "quantity":
        return _quantity(value)
    if kind == "reference":
        return _reference(value, modifier)
    return _uri(value, modifier)


def _merge(a: Filter, b: Filter) -> Filter:
    """Two field conditions on one entry as one (an AND): operators on the same field are
    combined, the stricter of two bounds kept."""
    merged = dict(a)
    for name, cond in b.items():
        if name not in merged:
            merged[name] = cond
            continue
        left = merged[name] if isinstance(merged[name], dict) else {"$eq": merged[name]}
        right = cond if isinstance(cond, dict) else {"$eq": cond}
        combined = dict(left)
        for op, value in right.items():
            if op not in combined:
                combined[op] = value
            elif op in ("$gt", "$gte"):
                combined[op] = max(combined[op], value)
            elif op in ("$lt", "$lte"):
                combined[op] = min(combined[op], value)
            elif combined[op] != value:
                return {"p": {"$in": []}}  # contradictory equalities
        merged[name] = combined
    return merged


def _alternatives(cond: Filter) -> list[Filter]:
    """A condition on one entry as OR-ed plain field conditions: ``$elemMatch`` then holds no
    logical operator (its '$or' distributes: some entry matches A or B ⇔ some matches A or some
    matches B). mongoeco accepts only field conditions inside ``$elemMatch``; MongoDB plans them best."""
    if "$or" not in cond:
        return [cond]
    base = {k: v for k, v in cond.items() if k != "$or"}
    return [alt for branch in cond["$or"] for part in _alternatives(branch) for alt in [_merge(base, part)]]


def _elem(array: str, param: str, cond: Filter) -> Filter:
    """Some entry of the parameter matches ``cond`` (which may hold one '$or')."""
    return _any([{f"idx.{array}": {"$elemMatch": {"p": param, **alt}}} for alt in _alternatives(cond)])


def _elem_all(array: str, param: str, conds: list[Filter]) -> Filter:
    """Some one entry of the parameter matches every condition of ``conds``."""
    combos: list[Filter] = [{}]
    for cond in conds:
        combos = [_merge(done, alt) for done in combos for alt in _alternatives(cond)]
    return _any([{f"idx.{array}": {"$elemMatch": {"p": param, **combo}}} for combo in combos])


def _all(filters: list[Filter]) -> Filter:
    filters = [f for f in filters if f]
    if not filters:
        return {}
    return filters[0] if len(filters) == 1 else {"$and": filters}


def _any(filters: list[Filter]) -> Filter:
    return filters[0] if len(filters) == 1 else {"$or": filters}


class MongoTranslator:
    """Builds the filter of a search; chain steps query the store through the lookups."""

    def __init__(self, ids: IdLookup, refs: RefLookup):
        self._ids = ids
        self._refs = refs

    async def criteria(self, criteria: tuple[Criterion, ...], resource_type: str) -> Filter:
        """AND of the criteria. As in SQLite, single-valued date clauses on one parameter share
        one ``$elemMatch``: they must hold for one and the same date value of the resource."""
        filters: list[Filter] = []
        ranges: dict[str, list[RangeValue]] = {}
        for criterion in criteria:
            if mergeable_date(criterion):
                ranges.setdefault(criterion.param, []).append(criterion.values[0])  # type: ignore[union-attr,arg-type]
            else:
                filters.append(await self.criterion(criterion, resource_type))
        for param, values in ranges.items():
            filters.append(_elem_all("date", param, [range_filter(v) for v in values]))
        return _all(filters)

    async def criterion(self, criterion: Criterion, resource_type: str) -> Filter:
        if isinstance(criterion, Chain):
            return await self._chain(criterion)
        if isinstance(criterion, ReverseChain):
            return await self._reverse_chain(criterion, resource_type)
        if isinstance(criterion, InCompartment):
            array = f"idx.{ARRAY_FOR_KIND['reference']}"
            target = {"p": {"$in": list(criterion.params)}, "tt": criterion.compartment_type}
            return {array: {"$elemMatch": {**target, "ti": {"$in": list(criterion.ids)}}}}
        if isinstance(criterion, AllOf):
            return await self.criteria(criterion.criteria, resource_type)
        if isinstance(criterion, AnyOf):
            filters = [await self.criterion(c, resource_type) for c in criterion.criteria]
            return {"$or": filters} if filters else {"id": {"$in": []}}
        if isinstance(criterion, Not):
            return {"$nor": [await self.criterion(criterion.criterion, resource_type)]}
        return self._clause(criterion)

    def _clause(self, clause: Clause) -> Filter:
        if clause.kind == "id":
            ids = [v.code for v in clause.values]  # type: ignore[union-attr]
            return {"id": {"$nin" if clause.modifier == "not" else "$in": ids}}
        if clause.kind == "lastUpdated":
            return _any([range_filter(v, "lu_us", "lu_us") for v in clause.values])  # type: ignore[arg-type]
        array = ARRAY_FOR_KIND[clause.kind]
        if clause.missing is True:
            return {f"idx.{array}.p": {"$ne": clause.param}}
        if clause.missing is False:
            return {f"idx.{array}.p": clause.param}
        positive = _any(
            [_elem(array, clause.param, value_filter(clause.kind, v, clause.modifier)) for v in clause.values]
        )
        if clause.modifier in ("not", "not-in"):
            return {"$nor": [positive]}
        return positive

    async def _chain(self, chain: Chain) -> Filter:
        """Targets matching the inner criterion → references to them."""
        branches = []
        for target_type, inner in chain.branches:
            ids = await self._ids(target_type, await self.criterion(inner, target_type))
            _check_bound(ids, chain.param)
            branches.append(_elem("reference", chain.param, {"tt": target_type, "ti": {"$in": ids}}))
        return _any(branches)

    async def _reverse_chain(self, chain: ReverseChain, resource_type: str) -> Filter:
        """Sources matching the inner criterion → the ids their references point to."""
        inner = await self.criterion(chain.inner, chain.source_type)
        ids = await self._refs(chain.source_type, inner, chain.param, resource_type)
        _check_bound(ids, f"_has:{chain.source_type}:{chain.param}")
        return {"id": {"$in": ids}}


def _check_bound(ids: list[str], what: str) -> None:
    if len(ids) > MAX_CHAIN_IDS:
        raise Unprocessable(
            f"{what}: the inner search matches more than {MAX_CHAIN_IDS} resources; narrow it down", expression=what
        )


def sort_field(key: SortKey) -> tuple[str, Any] | None:
    """(document field, or None for a computed value; value when the resource has none).
    Resources without a value sort last in either direction, as in SQLite."""
    if key.kind == "id":
        return None
    if key.kind == "lastUpdated":
        return None
    array = ARRAY_FOR_KIND[key.kind]
    numeric = key.kind in ("date", "number", "quantity")
    missing = (-_HUGE if key.descending else _HUGE) if numeric else ("" if key.descending else _MAX_CHAR)
    return f"sk.{array}.{field_name(key.param)}.{'d' if key.descending else 'a'}", missing


def keyset_filter(fields: list[tuple[str, bool]], values: list[Any], *, after: bool) -> Filter:
    """Documents strictly after (or before) ``values`` in the order of ``fields`` (name, descending)."""
    ors = []
    for i, (name, descending) in enumerate(fields):
        cond: Filter = {f: v for (f, _), v in zip(fields[:i], values[:i], strict=True)}
        greater = after != descending
        cond[name] = {"$gt" if greater else "$lt": values[i]}
        ors.append(cond)
    return _any(ors)
