"""``_include`` and ``_revinclude``, with ``:iterate`` (https://hl7.org/fhir/R4/search.html#include).

Included resources appear once, never repeat a match, and do not count toward ``_count``.
"""

from __future__ import annotations

from fhir_server.fhir.search.query import Include
from fhir_server.fhir.search.restriction import SearchRestriction, visible
from fhir_server.store.base import StoredVersion, StoreReader

MAX_ITERATIONS = 4


async def resolve_includes(
    reader: StoreReader,
    includes: tuple[Include, ...],
    matches: list[StoredVersion],
    limit: int,
    restriction: SearchRestriction | None = None,
) -> tuple[list[StoredVersion], bool]:
    """The included resources, and whether some are missing: each parameter brings at most
    ``limit`` resources per step (the store is asked for one more, to know whether it cut).
    With a restriction, hidden resources are dropped before they can lead further (``:iterate``)."""
    truncated = False
    seen = {(v.type, v.id) for v in matches}
    included: list[StoredVersion] = []
    frontier = matches
    for round_number in range(MAX_ITERATIONS):
        specs = [spec for spec in includes if round_number == 0 or spec.iterate]
        if not specs or not frontier:
            break
        found: list[StoredVersion] = []
        for spec in specs:
            if spec.reverse:
                batch = await reader.revinclude(frontier, spec.source_type, spec.param, limit + 1)
            else:
                sources = [v for v in frontier if v.type == spec.source_type]
                batch = await reader.include(sources, spec.param, spec.target_type, limit + 1) if sources else []
            if len(batch) > limit:
                truncated, batch = True, batch[:limit]
            found += await visible(reader, batch, restriction) if restriction is not None and batch else batch
        frontier = []
        for version in found:
            key = (version.type, version.id)
            if key not in seen:
                seen.add(key)
                frontier.append(version)
        included += frontier
    return included, truncated
