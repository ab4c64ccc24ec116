"""ValueSet expansion from ``compose`` (https://hl7.org/fhir/R4/valueset.html#compose).

Supported: include/exclude of whole systems, explicit concepts, filters (is-a,
descendent-of, is-not-a, generalizes, regex, =, in, not-in, exists; several filters in
one include are ANDed) and valueSet imports (intersected). An expansion is a list of
:class:`Item` in code-system order, without duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from fhir_server.errors import NotFound, Unprocessable
from fhir_server.terminology.codesystem import CodeSystemIndex, Concept


class Item(NamedTuple):
    system: str
    version: str | None
    code: str
    display: str | None


Key = tuple[str, str]
HIERARCHY_PROPERTIES = ("concept", "code")


class Expander:
    def __init__(
        self,
        codesystems: Mapping[str, CodeSystemIndex],
        valuesets: Mapping[str, dict[str, Any]],
        cache: dict[str, list[Item]],
    ):
        self.codesystems = codesystems
        self.valuesets = valuesets
        self.cache = cache

    def expand_url(self, url: str, _stack: tuple[str, ...] = ()) -> list[Item]:
        url = url.split("|", 1)[0]
        if url in self.cache:
            return self.cache[url]
        resource = self.valuesets.get(url)
        if resource is None:
            raise NotFound(f"ValueSet '{url}' is not known to this server")
        if url in _stack:
            raise Unprocessable(f"ValueSet '{url}' imports itself")
        items = self.expand(resource, (*_stack, url))
        self.cache[url] = items
        return items

    def expand(self, resource: dict[str, Any], _stack: tuple[str, ...] = ()) -> list[Item]:
        compose = resource.get("compose")
        if not compose:
            if "expansion" in resource:
                return list(_flatten(resource["expansion"].get("contains") or []))
            raise Unprocessable("The ValueSet has neither compose nor expansion: nothing to expand")
        found: dict[Key, Item] = {}
        for include in compose.get("include") or ():
            for item in self._part(include, _stack):
                found.setdefault((item.system, item.code), item)
        for exclude in compose.get("exclude") or ():
            for item in self._part(exclude, _stack):
                found.pop((item.system, item.code), None)
        return list(found.values())

    def _part(self, part: dict[str, Any], stack: tuple[str, ...]) -> list[Item]:
        imported: set[Key] | None = None
        imported_items: list[Item] = []
        for url in part.get("valueSet") or ():
            items = self.expand_url(url, stack)
            keys = {(i.system, i.code) for i in items}
            imported = keys if imported is None else imported & keys
            imported_items = items
        system = part.get("system")
        if system is None:
            if imported is None:
                raise Unprocessable("A compose include/exclude needs a system or a valueSet")
            return [i for i in imported_items if (i.system, i.code) in imported]
        items = self._from_system(system, part)
        if imported is not None:
            items = [i for i in items if (i.system, i.code) in imported]
        return items

    def _from_system(self, system: str, part: dict[str, Any]) -> list[Item]:
        cs = self.codesystems.get(system)
        concepts = part.get("concept")
        if cs is None:
            if concepts and not part.get("filter"):
                version = part.get("version")
                return [Item(system, version, c["code"], c.get("display")) for c in concepts]
            raise Unprocessable(f"Cannot expand: code system '{system}' is not known to this server")
        version = part.get("version")
        if version and cs.version and version != cs.version:
            raise Unprocessable(f"Code system '{system}' version '{version}' is not known (have '{cs.version}')")
        given = {c["code"]: c.get("display") for c in concepts} if concepts else {}
        candidates: list[str] | None = [c for c in given if c in cs.concepts] if concepts else None
        for flt in part.get("filter") or ():
            candidates = _apply_filter(cs, flt, candidates)
        codes = cs.concepts.keys() if candidates is None else candidates
        return [Item(system, cs.version, code, given.get(code) or cs.concepts[code].display) for code in codes]


def _flatten(contains: list[dict[str, Any]]) -> Iterable[Item]:
    for c in contains:
        if "code" in c and "system" in c:
            yield Item(c["system"], c.get("version"), c["code"], c.get("display"))
        yield from _flatten(c.get("contains") or [])


def _apply_filter(cs: CodeSystemIndex, flt: dict[str, Any], codes: Iterable[str] | None) -> list[str]:
    prop, op, value = flt.get("property"), flt.get("op"), flt.get("value")
    if not prop or not op or value is None:
        raise Unprocessable("A ValueSet filter needs property, op and value")
    if op in ("is-a", "descendent-of", "generalizes") and prop in HIERARCHY_PROPERTIES:
        if value not in cs.concepts:
            return []
        if op == "generalizes":
            related = [value, *cs.ancestors(value)]
        else:
            related = ([value] if op == "is-a" else []) + list(cs.descendants(value))
        if codes is None:
            return related
        keep = set(related)
        return [c for c in codes if c in keep]
    test = _predicate(cs, prop, op, value)
    return [c for c in (cs.concepts.keys() if codes is None else codes) if test(cs.concepts[c])]


def _values(prop: str) -> Callable[[Concept], list[str]]:
    if prop == "code":
        return lambda c: [c.code]
    if prop == "display":
        return lambda c: [c.display] if c.display else []
    return lambda c: c.property_values(prop)


def _predicate(cs: CodeSystemIndex, prop: str, op: str, value: str) -> Callable[[Concept], bool]:
    values = _values(prop)
    if op == "is-not-a" and prop in HIERARCHY_PROPERTIES:
        excluded = {value, *cs.descendants(value)} if value in cs.concepts else set()
        return lambda c: c.code not in excluded
    if op == "=":
        return lambda c: value in values(c)
    if op in ("in", "not-in"):
        wanted = {v.strip() for v in value.split(",")}
        if op == "in":
            return lambda c: any(v in wanted for v in values(c))
        return lambda c: not any(v in wanted for v in values(c))
    if op == "regex":
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise Unprocessable(f"Invalid regex '{value}' in a ValueSet filter: {exc}") from None
        return lambda c: any(pattern.fullmatch(v) for v in values(c))
    if op == "exists":
        wanted_exists = value == "true"
        return lambda c: bool(values(c)) == wanted_exists
    raise Unprocessable(f"ValueSet filter operator '{op}' on property '{prop}' is not supported")
