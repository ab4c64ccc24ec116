"""ValueSet membership for bindings (https://hl7.org/fhir/R4/terminologies.html#strength).

A ValueSet is looked up first in the server's terminology service, then among the
enumerations of the base R4 ValueSets stored with the base definitions (the required and
extensible bindings of the supported types whose content the R4 package fully defines,
e.g. administrative-gender). A ValueSet known to neither (SNOMED CT or LOINC based ones,
all-languages, mime types...) is not checked, silently: the validator cannot tell right
from wrong there, and an issue on every such element would bury the real ones.
"""

from __future__ import annotations

from typing import Any

from fhir_server.terminology.service import TerminologyService


class Members:
    __slots__ = ("pairs", "codes")

    def __init__(self, pairs: frozenset[tuple[str, str]] | set[tuple[str, str]]):
        self.pairs = frozenset(pairs)
        self.codes = frozenset(code for _, code in self.pairs)

    def has(self, system: str | None, code: str) -> bool:
        if system is None:
            return code in self.codes
        return (system, code) in self.pairs


class ValueSets:
    def __init__(self, enumerations: dict[str, frozenset[tuple[str, str]]], terminology: TerminologyService | None):
        self.enumerations = enumerations
        self.terminology = terminology
        self._cache: dict[str, Members | None] = {}

    def members(self, url: str) -> Members | None:
        """The members of a ValueSet, or None when it is not known (then the binding is not checked)."""
        try:
            return self._cache[url]
        except KeyError:
            pass
        found: Members | None = None
        if self.terminology is not None and url in self.terminology.valuesets:
            found = Members(set(self.terminology.members(url)))
        elif url in self.enumerations:
            found = Members(self.enumerations[url])
        self._cache[url] = found
        return found


def codings_of(value: Any, type_code: str) -> list[tuple[str | None, str]] | None:
    """The (system, code) pairs a bound element carries; None if the type has no code to check."""
    if type_code in ("code", "string", "uri"):
        return [(None, value)] if isinstance(value, str) else []
    if not isinstance(value, dict):
        return []
    if type_code == "Coding" or type_code == "Quantity":
        code = value.get("code")
        return [(value.get("system"), code)] if isinstance(code, str) else []
    if type_code == "CodeableConcept":
        return [
            (c.get("system"), c["code"])
            for c in value.get("coding") or ()
            if isinstance(c, dict) and isinstance(c.get("code"), str)
        ]
    return None
