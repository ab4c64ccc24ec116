"""One ConceptMap held in memory, indexed both ways for ``$translate``
(https://hl7.org/fhir/R4/conceptmap-operation-translate.html)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Reading a map backwards swaps the direction of the relationship.
REVERSED = {"narrower": "wider", "wider": "narrower", "subsumes": "specializes", "specializes": "subsumes"}
NO_MATCH = ("unmatched", "disjoint")


@dataclass(frozen=True, slots=True)
class Match:
    equivalence: str
    system: str | None
    code: str | None
    display: str | None
    source: str  # the ConceptMap's url
    comment: str | None = None

    @property
    def positive(self) -> bool:
        return self.equivalence not in NO_MATCH


class ConceptMapIndex:
    def __init__(self, resource: dict[str, Any]):
        self.resource = resource
        self.url: str = resource["url"]
        self.source_scope: str | None = resource.get("sourceUri") or resource.get("sourceCanonical")
        self.target_scope: str | None = resource.get("targetUri") or resource.get("targetCanonical")
        self.forward: dict[tuple[str, str], list[Match]] = {}
        self.reverse: dict[tuple[str, str], list[Match]] = {}
        self.source_systems: set[str] = set()
        self.target_systems: set[str] = set()
        for group in resource.get("group") or ():
            source, target = group.get("source"), group.get("target")
            self.source_systems.add(source)
            self.target_systems.add(target)
            for element in group.get("element") or ():
                for t in element.get("target") or ():
                    eq = t.get("equivalence", "equivalent")
                    self.forward.setdefault((source, element["code"]), []).append(
                        Match(
                            eq,
                            target if "code" in t else None,
                            t.get("code"),
                            t.get("display"),
                            self.url,
                            t.get("comment"),
                        )
                    )
                    if "code" in t and eq not in NO_MATCH:
                        self.reverse.setdefault((target, t["code"]), []).append(
                            Match(
                                REVERSED.get(eq, eq),
                                source,
                                element["code"],
                                element.get("display"),
                                self.url,
                                t.get("comment"),
                            )
                        )

    def translate(self, system: str, code: str, reverse: bool = False, target_system: str | None = None) -> list[Match]:
        matches = (self.reverse if reverse else self.forward).get((system, code), [])
        if target_system:
            matches = [m for m in matches if m.system in (target_system, None)]
        return matches
