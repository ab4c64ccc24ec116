"""Narrowing a search to what the caller may see, as a query rewrite (the approach of
Microsoft's SmartCompartmentSearchRewriter): the restriction's criteria are AND-ed to the
query and to every chain and ``_has`` inside it, so hidden resources are filtered by the
store before paging and counting, and cannot be probed through a chain either.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from fhir_server.fhir.search.query import AllOf, Chain, Clause, Criterion, ReverseChain, SearchQuery, TokenValue
from fhir_server.store.base import StoredVersion, StoreReader


class SearchRestriction(Protocol):
    async def criteria(self, resource_type: str) -> tuple[Criterion, ...]:
        """What a resource of this type must also match to be visible (empty: everything)."""
        ...


async def _restricted(criterion: Criterion, restriction: SearchRestriction) -> Criterion:
    if isinstance(criterion, Chain):
        branches = []
        for target_type, inner in criterion.branches:
            extra = await restriction.criteria(target_type)
            inner = await _restricted(inner, restriction)
            branches.append((target_type, AllOf((inner, *extra)) if extra else inner))
        return Chain(criterion.param, tuple(branches))
    if isinstance(criterion, ReverseChain):
        extra = await restriction.criteria(criterion.source_type)
        inner = await _restricted(criterion.inner, restriction)
        return ReverseChain(criterion.source_type, criterion.param, AllOf((inner, *extra)) if extra else inner)
    return criterion


async def restrict_query(query: SearchQuery, restriction: SearchRestriction) -> SearchQuery:
    criteria = [await _restricted(c, restriction) for c in query.criteria]
    criteria += await restriction.criteria(query.resource_type)
    return replace(query, criteria=tuple(criteria))


async def visible(
    reader: StoreReader, versions: list[StoredVersion], restriction: SearchRestriction
) -> list[StoredVersion]:
    """The versions (current ones: index entries exist only for them) the restriction lets
    through, in their order: one store query per resource type, with the same criteria as a
    search, so a read shows exactly what a search would."""
    by_type: dict[str, list[StoredVersion]] = {}
    for version in versions:
        by_type.setdefault(version.type, []).append(version)
    keep: set[tuple[str, str]] = set()
    for resource_type, group in by_type.items():
        extra = await restriction.criteria(resource_type)
        if not extra:
            keep.update((resource_type, v.id) for v in group)
            continue
        ids = tuple(dict.fromkeys(v.id for v in group))
        by_id = Clause("_id", "id", None, tuple(TokenValue(i, None, False) for i in ids))
        query = SearchQuery(resource_type, (by_id, *extra), count=len(ids), with_total=False)
        page = await reader.search(query)
        keep.update((resource_type, v.id) for v in page.items)
    return [v for v in versions if (v.type, v.id) in keep]
