"""Slice discriminators (https://hl7.org/fhir/R4/profiling.html#discriminator).

Supported: ``value`` and ``pattern`` (the slice's fixed[x]/pattern[x] at the path; for an
extension slice discriminated by ``url`` without a fixed url, the extension profile URL),
``type`` (the resource type at the path: ``resource``), ``profile``, ``exists``. Paths
are dotted element names, ``$this`` and ``extension('url')``. A slice whose discriminator
cannot be worked out (``resolve()``, a path through a slice, a value given only by a
binding) matches nothing: its items count as unsliced.

``profile``: an item belongs to the slice when the resource at the path has the type of the
slice's profile and, if several slices of the element have profiles on that type (the IPS
Bundle's eight Observation slices), when it conforms to the profile (validated without error;
the first such slice wins; see :func:`settle_profiles`). When a single slice has profiles on
that type (the IPS Bundle's Condition slice), every resource of the type belongs to it and is
validated against the profile: stricter than a pure conformance test, under which a
non-conforming Condition would silently be "unsliced" in an open slicing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhir_server.fhir.profiles.elements import MISSING, ElementNode

_EXT = re.compile(r"^extension\('([^']+)'\)$")


@dataclass(frozen=True, slots=True)
class Discriminator:
    kind: str  # eq, contains, types, exists, profile (settled into types or conforms)
    steps: tuple[str, ...]
    expected: Any


def contains(value: Any, pattern: Any) -> bool:
    """Whether ``value`` has everything ``pattern`` has (pattern[x] semantics)."""
    if isinstance(pattern, dict):
        if isinstance(value, list):
            return any(contains(v, pattern) for v in value)
        return isinstance(value, dict) and all(k in value and contains(value[k], p) for k, p in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(contains(v, p) for v in items) for p in pattern)
    if isinstance(value, list):
        return any(contains(v, pattern) for v in value)
    return value == pattern


def _steps(path: str) -> tuple[str, ...] | None:
    if path == "$this":
        return ()
    out = []
    for part in re.split(r"\.(?![^(]*\))", path):
        if _EXT.match(part) or re.fullmatch(r"[a-zA-Z][A-Za-z0-9]*", part):
            out.append(part)
        else:
            return None
    return tuple(out)


def values_at(value: Any, steps: tuple[str, ...]) -> list[Any]:
    current = [value]
    for step in steps:
        ext = _EXT.match(step)
        nxt: list[Any] = []
        for item in current:
            if not isinstance(item, dict):
                continue
            if ext:
                found = [e for e in item.get("extension") or () if isinstance(e, dict) and e.get("url") == ext.group(1)]
            else:
                found = item.get(step)
                if found is None:
                    found = next(
                        (v for k, v in item.items() if k.startswith(step) and k[len(step) : len(step) + 1].isupper()),
                        None,
                    )
            if found is None:
                continue
            nxt.extend(found if isinstance(found, list) else [found])
        current = nxt
    return current


def _walk(
    node: ElementNode, steps: tuple[str, ...], child_of: Callable[[ElementNode, str], ElementNode | None]
) -> ElementNode | None:
    for step in steps:
        if _EXT.match(step):
            return None
        nxt = child_of(node, step)
        if nxt is None:
            return None
        node = nxt
    return node


def discriminators(
    sliced: ElementNode,
    slice_node: ElementNode,
    child_of: Callable[[ElementNode, str], ElementNode | None],
    profile_types: Callable[[tuple[str, ...]], frozenset[str]],
) -> list[Discriminator] | None:
    """The tests an item must pass to belong to the slice; None if the slice cannot be matched."""
    out = []
    for d in (sliced.slicing or {}).get("discriminator", ()):
        steps = _steps(d.get("path", "$this"))
        if steps is None:
            return None
        target = _walk(slice_node, steps, child_of)
        if target is None:
            return None
        kind = d.get("type")
        if kind in ("value", "pattern"):
            if target.fixed is not MISSING:
                out.append(Discriminator("eq", steps, target.fixed))
            elif target.pattern is not MISSING:
                out.append(Discriminator("contains", steps, target.pattern))
            elif steps and steps[-1] == "url" and slice_node.types and slice_node.types[0].profiles:
                out.append(Discriminator("eq", steps, slice_node.types[0].profiles[0]))
            else:
                return None
        elif kind == "type":
            out.append(Discriminator("types", steps, frozenset(t.code for t in target.types)))
        elif kind == "profile":
            profiles = tuple(p for t in target.types for p in t.profiles)
            if not profiles:
                return None
            out.append(Discriminator("profile", steps, (profile_types(profiles), profiles)))
        elif kind == "exists":
            out.append(Discriminator("exists", steps, target.min > 0))
        else:
            return None
    return out


def settle_profiles(tests: dict[str, list[Discriminator] | None]) -> None:
    """Turn each ``profile`` discriminator into a type test, or into a conformance test when
    other slices of the same element have profiles on one of its types."""
    slices_by_type: dict[str, int] = {}
    for found in tests.values():
        for t in found or ():
            if t.kind == "profile":
                for rtype in t.expected[0]:
                    slices_by_type[rtype] = slices_by_type.get(rtype, 0) + 1
    for name, found in tests.items():
        if found is None:
            continue
        settled = []
        for t in found:
            if t.kind == "profile":
                types, profiles = t.expected
                settled.append(Discriminator("types", t.steps, types))
                if any(slices_by_type[rtype] > 1 for rtype in types):
                    settled.append(Discriminator("conforms", t.steps, profiles))
            else:
                settled.append(t)
        tests[name] = settled


Conforms = Callable[[Any, tuple[str, ...]], bool]


def matches(value: Any, tests: list[Discriminator], conforms: Conforms) -> bool:
    """Whether the item passes every test; ``conforms(resource, profiles)`` validates."""
    for t in tests:
        found = values_at(value, t.steps)
        if t.kind == "conforms":
            ok = any(isinstance(v, dict) and conforms(v, t.expected) for v in found)
        elif t.kind == "eq":
            ok = any(v == t.expected for v in found)
        elif t.kind == "contains":
            ok = any(contains(v, t.expected) for v in found)
        elif t.kind == "types":
            ok = any(isinstance(v, dict) and v.get("resourceType") in t.expected for v in found)
        else:
            ok = bool(found) == t.expected
        if not ok:
            return False
    return True
