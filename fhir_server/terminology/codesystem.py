"""One CodeSystem held in memory with the indexes the operations need.

Concepts are read from a flat list with ``parent`` properties or from nested concepts
(https://hl7.org/fhir/R4/codesystem.html#hierarchy); either way every concept ends up in
one dict by code, with its parents and children resolved, so a lookup is one dict access.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PARENT = "parent"
CHILD = "child"


@dataclass(slots=True)
class Concept:
    code: str
    display: str | None
    definition: str | None
    designations: list[dict[str, Any]]
    properties: list[dict[str, Any]]  # CodeSystem.concept.property as in the file, without parent/child
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    def property_values(self, code: str) -> list[str]:
        """Values of one property as strings (valueCode, valueString, ...), for filters."""
        if code == PARENT:
            return self.parents
        if code == CHILD:
            return self.children
        out: list[str] = []
        for prop in self.properties:
            if prop.get("code") == code:
                out.extend(
                    str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in prop.items()
                    if k.startswith("value") and not isinstance(v, dict)
                )
        return out


class CodeSystemIndex:
    def __init__(self, resource: dict[str, Any]):
        self.resource = resource
        self.url: str = resource["url"]
        self.version: str | None = resource.get("version")
        self.name: str = resource.get("name") or resource.get("title") or self.url
        self.case_sensitive = resource.get("caseSensitive", True) is not False
        self.concepts: dict[str, Concept] = {}
        self._folded: dict[str, str] = {}
        self._read(resource.get("concept") or [], None)
        for concept in self.concepts.values():
            for parent in concept.parents:
                owner = self.concepts.get(parent)
                if owner is not None and concept.code not in owner.children:
                    owner.children.append(concept.code)
        if not self.case_sensitive:
            self._folded = {code.lower(): code for code in self.concepts}

    def _read(self, raw: list[dict[str, Any]], parent: str | None) -> None:
        for item in raw:
            props = [p for p in item.get("property") or () if p.get("code") not in (PARENT, CHILD)]
            parents = [
                p["valueCode"] for p in item.get("property") or () if p.get("code") == PARENT and "valueCode" in p
            ]
            if parent is not None and parent not in parents:
                parents.insert(0, parent)
            concept = Concept(
                item["code"], item.get("display"), item.get("definition"), item.get("designation") or [], props, parents
            )
            for p in item.get("property") or ():
                if p.get("code") == CHILD and "valueCode" in p:
                    concept.children.append(p["valueCode"])
            self.concepts[concept.code] = concept
            if item.get("concept"):
                self._read(item["concept"], concept.code)

    def get(self, code: str) -> Concept | None:
        found = self.concepts.get(code)
        if found is None and self._folded:
            real = self._folded.get(code.lower())
            found = self.concepts.get(real) if real else None
        return found

    def __len__(self) -> int:
        return len(self.concepts)

    def ancestors(self, code: str) -> list[str]:
        """Nearest first (breadth-first), without the code itself."""
        seen: list[str] = []
        queue = list(self.concepts[code].parents)
        while queue:
            current = queue.pop(0)
            if current not in seen:
                seen.append(current)
                known = self.concepts.get(current)
                if known is not None:
                    queue.extend(known.parents)
        return seen

    def descendants(self, code: str) -> Iterator[str]:
        """Depth-first, in file order, without the code itself."""
        stack = list(reversed(self.concepts[code].children))
        seen: set[str] = set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            yield current
            known = self.concepts.get(current)
            if known is not None:
                stack.extend(reversed(known.children))

    def subsumes(self, a: str, b: str) -> str:
        """Outcome of https://hl7.org/fhir/R4/codesystem-operation-subsumes.html for two known codes."""
        if a == b:
            return "equivalent"
        if a in self.ancestors(b):
            return "subsumes"
        if b in self.ancestors(a):
            return "subsumed-by"
        return "not-subsumed"
