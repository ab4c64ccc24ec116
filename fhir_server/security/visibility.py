"""What one caller may see, as search criteria (a :class:`SearchRestriction`).

A caller sees the resource types their role allows; of the types in the Patient
compartment, only the records of ``patients`` (None: any patient's), minus the items the
patients' Consents hide from them. Every read, search, include, chain and ``_has`` goes
through these criteria, so they all show the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_server.fhir.search.query import (
    AllOf,
    AnyOf,
    Clause,
    Criterion,
    InCompartment,
    Not,
    TokenValue,
)
from fhir_server.fhir.search_parameters import SearchParameterRegistry
from fhir_server.security.compartment import PATIENT_COMPARTMENT, in_compartment_types
from fhir_server.security.consent import Coding, HiddenItems

NOTHING: Criterion = Clause("_id", "id", None, ())
"""Matches no resource (``id IN ()``)."""
CODED_PARAMS = ("type", "category", "code", "class")
"""Where a Consent's class and code codings are looked for, on types that have them."""


def _ids(kind_modifier: str | None, ids: frozenset[str] | tuple[str, ...]) -> Clause:
    return Clause("_id", "id", kind_modifier, tuple(TokenValue(i, None, False) for i in sorted(ids)))


def _tokens(param: str, codings: frozenset[Coding]) -> Clause:
    values = tuple(TokenValue(code, system, system is not None) for system, code in sorted(codings, key=str))
    return Clause(param, "token", None, values)


@dataclass(frozen=True)
class Visibility:
    readable_types: frozenset[str] | None  # None: every type
    patients: frozenset[str] | None  # None: every patient's record
    hidden: tuple[tuple[HiddenItems, frozenset[str]], ...] = ()  # items, and the patients hiding them
    registry: SearchParameterRegistry | None = field(default=None, compare=False)

    @property
    def unrestricted(self) -> bool:
        return self.readable_types is None and self.patients is None and not self.hidden

    async def criteria(self, resource_type: str) -> tuple[Criterion, ...]:
        if self.readable_types is not None and resource_type not in self.readable_types:
            return (NOTHING,)
        if not in_compartment_types(resource_type):
            return ()
        out: list[Criterion] = []
        if self.patients is not None:
            out.append(self._compartment(resource_type, self.patients))
        for items, patients in self.hidden:
            out += self._hiding(resource_type, items, patients)
        return tuple(out)

    def _compartment(self, resource_type: str, patients: frozenset[str]) -> Criterion:
        if resource_type == "Patient":
            return _ids(None, patients)
        return InCompartment("Patient", PATIENT_COMPARTMENT[resource_type], tuple(sorted(patients)))

    def _hiding(self, resource_type: str, items: HiddenItems, patients: frozenset[str]) -> list[Criterion]:
        out: list[Criterion] = []
        ids = frozenset(r.partition("/")[2] for r in items.resources if r.partition("/")[0] == resource_type)
        if ids:
            out.append(_ids("not", ids))
        if resource_type in items.resource_types:
            out.append(Not(self._compartment(resource_type, patients)))
        matches: list[Criterion] = []
        if items.codings:
            matches += [_tokens(p, items.codings) for p in CODED_PARAMS if self._has(resource_type, p)]
        if items.labels and self._has(resource_type, "_security"):
            matches.append(_tokens("_security", items.labels))
        if matches:
            out.append(Not(AllOf((self._compartment(resource_type, patients), AnyOf(tuple(matches))))))
        return out

    def _has(self, resource_type: str, code: str) -> bool:
        return self.registry is not None and self.registry.get(resource_type, code) is not None


EVERYTHING = Visibility(None, None)
