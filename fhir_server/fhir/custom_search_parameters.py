"""SearchParameter resources as data (https://hl7.org/fhir/R4/searchparameter.html).

An active SearchParameter stored on the server extends the registry for its base types;
changing or deleting it changes the registry again. Either way the affected types are
reindexed in the background, so existing resources become searchable too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from fhir_server.errors import Issue, Unprocessable
from fhir_server.fhir.reindex import Reindexer
from fhir_server.fhir.search.query import HistoryQuery, SearchQuery
from fhir_server.fhir.search_parameters import SearchParam, SearchParameterRegistry
from fhir_server.store.base import StoredVersion, StoreReader

log = logging.getLogger(__name__)


class CustomSearchParameters:
    def __init__(self, registry: SearchParameterRegistry, reindexer: Reindexer, supported_types: tuple[str, ...]):
        self._registry = registry
        self._reindexer = reindexer
        self._supported = supported_types
        self._url_by_id: dict[str, str] = {}
        self._applied: dict[str, int] = {}  # SearchParameter id → version applied to the registry

    def _affected(self, base: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        if "Resource" in base or "DomainResource" in base:
            return self._supported
        return tuple(t for t in self._supported if t in base)

    def _applies(self, resource: dict[str, Any]) -> bool:
        base = resource.get("base")
        return resource.get("status") == "active" and isinstance(base, list) and bool(self._affected(base))

    def check(self, resource: dict[str, Any]) -> None:
        """Refuse an active SearchParameter this server could not use (422)."""
        if resource.get("resourceType") != "SearchParameter" or not self._applies(resource):
            return
        try:
            param = SearchParam.from_resource(resource)
        except (ValueError, TypeError) as exc:
            raise Unprocessable(f"SearchParameter cannot be used: {exc}") from None
        if not param.url:
            raise Unprocessable("An active SearchParameter needs a url", expression="SearchParameter.url")
        if not param.supported:
            issue = Issue("not-supported", f"SearchParameter type '{param.type}' with this expression is not supported")
            raise Unprocessable(issue.diagnostics, issues=[issue])

    def committed(self, version: StoredVersion) -> None:
        if version.type != "SearchParameter":
            return
        affected = self._apply(version)
        if affected:
            types = tuple(t for t in self._supported if t in affected)
            self._reindexer.start(types, f"SearchParameter/{version.id} version {version.version_id}")

    async def follow(self, reader: StoreReader, since_us: int) -> int:
        """Apply the SearchParameter versions written since ``since_us`` by other processes (worker
        processes share the store, not the registry); the new watermark. The writer's process
        reindexes; here only the registry changes."""
        versions: list[StoredVersion] = []
        cursor = None
        while True:
            page = await reader.history(HistoryQuery("SearchParameter", None, since_us, 200, cursor))
            versions += page.items
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        for version in sorted(versions, key=lambda v: (v.last_updated_us, v.version_id)):
            if self._applied.get(version.id, 0) < version.version_id:
                self._apply(version)
        return max((v.last_updated_us for v in versions), default=since_us)

    def _apply(self, version: StoredVersion) -> set[str]:
        """Registry changes for one SearchParameter version; the types whose index they affect."""
        self._applied[version.id] = version.version_id
        affected: set[str] = set()
        old_url = self._url_by_id.pop(version.id, None)
        if old_url is not None and (removed := self._registry.remove(old_url)) is not None:
            affected.update(self._affected(removed.base))
        if version.body is not None:
            resource = orjson.loads(version.body)
            if self._applies(resource):
                param = self._registry.add(resource)
                self._url_by_id[version.id] = param.url
                affected.update(self._affected(param.base))
        return affected

    async def load(self, reader: StoreReader) -> int:
        """Register the active SearchParameters already stored (at start; no reindex needed)."""
        cursor, loaded = None, 0
        while True:
            page = await reader.search(SearchQuery("SearchParameter", (), 200, cursor, with_total=False))
            for version in page.items:
                self._applied[version.id] = version.version_id
                resource = orjson.loads(version.body or b"{}")
                if self._applies(resource):
                    try:
                        param = self._registry.add(resource)
                    except ValueError:
                        continue
                    self._url_by_id[version.id] = param.url
                    loaded += 1
            if page.next_cursor is None:
                return loaded
            cursor = page.next_cursor


async def follow_other_workers(
    params: CustomSearchParameters, reader: StoreReader, since_us: int, interval: float = 2.0
) -> None:
    """Keep this worker's registry in step with SearchParameters written through the others since
    ``since_us`` (taken before :meth:`CustomSearchParameters.load`, so nothing falls in between)."""
    watermark = since_us
    while True:
        await asyncio.sleep(interval)
        try:
            watermark = await params.follow(reader, watermark)
        except Exception:  # the next round retries
            log.exception("following SearchParameter changes failed")
