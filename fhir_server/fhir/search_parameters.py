"""Registry of the search parameters each resource type supports.

Loaded from the R4 definitions in definitions/search-parameters.json (built by
scripts/build_definitions.py) and extendable with custom SearchParameter resources.
Parameters on Resource and DomainResource apply to every type that derives from them
(https://hl7.org/fhir/R4/search.html#all, https://hl7.org/fhir/R4/searchparameter.html).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from fhir_server.fhir.expressions import Evaluator

# Parameter types the index model (index_model.py) can answer.
SUPPORTED_SEARCH_TYPES = frozenset({"token", "string", "reference", "date", "uri", "number", "quantity", "composite"})
COMPOSITE_PART_TYPES = frozenset({"token", "reference", "string", "uri"})
SEARCH_TYPES = SUPPORTED_SEARCH_TYPES | {"number", "quantity", "composite", "special"}
# Answered by the store from its own columns rather than from index entries.
COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
# Resource types that are not DomainResources (https://hl7.org/fhir/R4/resource.html).
NOT_DOMAIN_RESOURCES = frozenset({"Bundle", "Binary", "Parameters"})


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter; `evaluator` extracts its values from a resource dict."""

    code: str
    type: str
    url: str
    base: tuple[str, ...]
    expression: str | None = None
    targets: tuple[str, ...] = ()
    description: str = ""
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    multiple_or: bool | None = None
    multiple_and: bool | None = None
    column: bool = False
    components: tuple[tuple[str, str], ...] = ()  # composite: (definition URL, relative expression)
    evaluator: Evaluator | None = field(default=None, compare=False, repr=False)

    @property
    def supported(self) -> bool:
        """Whether this server can search on it: a supported type, answered from columns or an expression."""
        return self.type in SUPPORTED_SEARCH_TYPES and (self.column or self.evaluator is not None)

    @classmethod
    def from_resource(cls, resource: Mapping[str, Any]) -> SearchParam:
        """Build from a SearchParameter resource (or its compact form); ValueError if unusable."""
        if resource.get("resourceType", "SearchParameter") != "SearchParameter":
            raise ValueError("not a SearchParameter resource")
        code, kind, base = resource.get("code"), resource.get("type"), resource.get("base")
        if not isinstance(code, str) or not code:
            raise ValueError("SearchParameter.code is required")
        if kind not in SEARCH_TYPES:
            raise ValueError(f"SearchParameter.type {kind!r} is not a search parameter type")
        if not isinstance(base, list) or not base or not all(isinstance(b, str) for b in base):
            raise ValueError("SearchParameter.base must list at least one resource type")
        expression = resource.get("expression") or None
        return cls(
            code=code,
            type=kind,
            url=resource.get("url") or "",
            base=tuple(base),
            expression=expression,
            targets=tuple(resource.get("target", ())),
            description=resource.get("description", ""),
            modifiers=tuple(resource.get("modifier", ())),
            comparators=tuple(resource.get("comparator", ())),
            multiple_or=resource.get("multipleOr"),
            multiple_and=resource.get("multipleAnd"),
            column=code in COLUMN_PARAMS and base == ["Resource"],
            components=tuple((c["definition"], c["expression"]) for c in resource.get("component", ())),
            evaluator=Evaluator(expression) if expression else None,
        )


@cache
def _default_params() -> tuple[SearchParam, ...]:
    text = resources.files("fhir_server.fhir").joinpath("definitions/search-parameters.json").read_text("utf-8")
    return tuple(SearchParam.from_resource(item) for item in json.loads(text))


class SearchParameterRegistry:
    """Search parameters by base type and code; views per type are cached until add()."""

    def __init__(self, params: Iterable[SearchParam] = ()) -> None:
        self._by_base: dict[str, dict[str, SearchParam]] = {}
        self._views: dict[tuple[str, bool], Mapping[str, SearchParam]] = {}
        self.generation = 0
        """Bumped on every change, so caches built from the registry know when to rebuild."""
        for param in params:
            self._put(param)

    @classmethod
    def load_default(cls) -> SearchParameterRegistry:
        """A new registry with the R4 parameters of the supported types (parsed once per process)."""
        return cls(_default_params())

    def _put(self, param: SearchParam) -> None:
        for base in param.base:
            self._by_base.setdefault(base, {})[param.code] = param
        self._changed()

    def _changed(self) -> None:
        self._views.clear()
        self.generation += 1

    def remove(self, url: str) -> SearchParam | None:
        """Unregister the parameter with this canonical URL; the one removed, or None."""
        removed = None
        for by_code in self._by_base.values():
            for code, param in list(by_code.items()):
                if param.url == url:
                    removed = by_code.pop(code)
        if removed is not None:
            self._changed()
        return removed

    def add(self, resource: Mapping[str, Any]) -> SearchParam:
        """Register a custom SearchParameter resource, replacing any with the same base and code."""
        param = SearchParam.from_resource(resource)
        self._put(param)
        return param

    def for_type(self, resource_type: str) -> Mapping[str, SearchParam]:
        """All parameters of a type by code, Resource/DomainResource-level ones included."""
        return self._view(resource_type, supported_only=False)

    def supported_for_type(self, resource_type: str) -> Mapping[str, SearchParam]:
        """Like for_type, restricted to the parameter types this server can search."""
        return self._view(resource_type, supported_only=True)

    def by_url(self, url: str) -> SearchParam | None:
        return next((p for by_code in self._by_base.values() for p in by_code.values() if p.url == url), None)

    def _components_known(self, param: SearchParam) -> bool:
        """A composite is searchable when each component is a token, reference, string or uri."""
        if param.type != "composite":
            return True
        kinds = [getattr(self.by_url(url), "type", None) for url, _ in param.components]
        return bool(kinds) and all(k in COMPOSITE_PART_TYPES for k in kinds)

    def get(self, resource_type: str, code: str) -> SearchParam | None:
        """The parameter `code` of a type, or None."""
        return self.for_type(resource_type).get(code)

    def _view(self, resource_type: str, supported_only: bool) -> Mapping[str, SearchParam]:
        key = (resource_type, supported_only)
        view = self._views.get(key)
        if view is None:
            bases = ["Resource"]
            if resource_type not in NOT_DOMAIN_RESOURCES:
                bases.append("DomainResource")
            bases.append(resource_type)
            merged: dict[str, SearchParam] = {}
            for base in bases:
                merged.update(self._by_base.get(base, {}))
            if supported_only:
                merged = {code: p for code, p in merged.items() if p.supported and self._components_known(p)}
            view = self._views[key] = MappingProxyType(merged)
        return view
