"""The in-memory terminology service: everything in ``terminology/``, indexed at start.

Other parts of the server call it in-process (e.g. the validator for bindings, the MR
rules for ALD eligibility); :mod:`fhir_server.api.terminology_operations` exposes it as
the R4 operations $lookup, $validate-code, $subsumes, $expand and $translate.
Unknown systems, value sets and maps raise :class:`NotFound`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhir_server.errors import BadRequest, NotFound
from fhir_server.terminology.codesystem import CodeSystemIndex, Concept
from fhir_server.terminology.conceptmap import ConceptMapIndex, Match
from fhir_server.terminology.loader import default_folder, read_folder
from fhir_server.terminology.valueset import Expander, Item


@dataclass(frozen=True, slots=True)
class Lookup:
    system: CodeSystemIndex
    concept: Concept


@dataclass(frozen=True, slots=True)
class Validation:
    result: bool
    message: str | None = None
    display: str | None = None


class TerminologyService:
    def __init__(self, resources: list[dict[str, Any]]):
        self.resources = resources
        self.codesystems: dict[str, CodeSystemIndex] = {}
        self.valuesets: dict[str, dict[str, Any]] = {}
        self.conceptmaps: dict[str, ConceptMapIndex] = {}
        self.ids: dict[tuple[str, str], str] = {}  # (resourceType, id) -> url
        for r in resources:
            kind, url = r["resourceType"], r["url"]
            if kind == "CodeSystem":
                self.codesystems[url] = CodeSystemIndex(r)
            elif kind == "ValueSet":
                self.valuesets[url] = r
            else:
                self.conceptmaps[url] = ConceptMapIndex(r)
            if "id" in r:
                self.ids[(kind, r["id"])] = url
        self._expansions: dict[str, list[Item]] = {}
        self._members: dict[str, dict[tuple[str, str], Item]] = {}
        self.expander = Expander(self.codesystems, self.valuesets, self._expansions)
        for url in self.valuesets:  # precompute, so $validate-code against a ValueSet is a dict lookup
            self._members[url] = {(i.system, i.code): i for i in self.expander.expand_url(url)}

    @classmethod
    def load(cls, folder: Path | None = None) -> TerminologyService:
        """The service for a folder; shared by every app of the process while the files are unchanged."""
        resolved = (folder or default_folder()).resolve()
        key = (resolved, _fingerprint(resolved))
        cached = _LOADED.get(key)
        if cached is None:
            cached = cls(read_folder(resolved))
            _LOADED.clear()  # keep only the latest
            _LOADED[key] = cached
        return cached

    # -- resolution ----------------------------------------------------------------------------

    def url_of(self, resource_type: str, resource_id: str) -> str:
        url = self.ids.get((resource_type, resource_id))
        if url is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known to the terminology service")
        return url

    def codesystem(self, system: str | None, version: str | None = None) -> CodeSystemIndex:
        if not system:
            raise BadRequest("A code system is needed (parameter 'system', 'url' or a Coding)")
        url, _, pinned = system.partition("|")
        cs = self.codesystems.get(url)
        if cs is None:
            raise NotFound(f"Code system '{url}' is not known to this server")
        version = version or pinned or None
        if version and cs.version and version != cs.version:
            raise NotFound(f"Version '{version}' of code system '{url}' is not known (this server has '{cs.version}')")
        return cs

    # -- operations ----------------------------------------------------------------------------

    def lookup(self, system: str | None, code: str | None, version: str | None = None) -> Lookup:
        cs = self.codesystem(system, version)
        if not code:
            raise BadRequest("$lookup needs a code")
        concept = cs.get(code)
        if concept is None:
            raise NotFound(f"Code '{code}' is not in code system '{cs.url}'")
        return Lookup(cs, concept)

    def subsumes(self, system: str | None, code_a: str | None, code_b: str | None, version: str | None = None) -> str:
        cs = self.codesystem(system, version)
        if not code_a or not code_b:
            raise BadRequest("$subsumes needs codeA and codeB (or codingA and codingB)")
        a, b = cs.get(code_a), cs.get(code_b)
        for given, found in ((code_a, a), (code_b, b)):
            if found is None:
                raise NotFound(f"Code '{given}' is not in code system '{cs.url}'")
        assert a is not None and b is not None
        return cs.subsumes(a.code, b.code)

    def validate_in_codesystem(
        self, system: str | None, code: str | None, display: str | None = None, version: str | None = None
    ) -> Validation:
        cs = self.codesystem(system, version)
        if not code:
            raise BadRequest("$validate-code needs a code (or a coding or codeableConcept)")
        concept = cs.get(code)
        if concept is None:
            return Validation(False, f"Unknown code '{code}' in code system '{cs.url}'")
        return _check_display(concept.display, display, code, cs.url, concept)

    def validate_in_valueset(
        self, valueset: str, system: str | None, code: str | None, display: str | None = None
    ) -> Validation:
        if not code:
            raise BadRequest("$validate-code needs a code (or a coding or codeableConcept)")
        members = self.members(valueset)
        url = valueset.split("|", 1)[0]
        if system is None:
            candidates = [item for (_, c), item in members.items() if c == code]
            item = candidates[0] if len(candidates) == 1 else None
            if len(candidates) > 1:
                return Validation(False, f"Code '{code}' is ambiguous in value set '{url}': give a system")
        else:
            item = members.get((system.split("|", 1)[0], code))
        if item is None:
            where = f"'{system}#{code}'" if system else f"'{code}'"
            return Validation(False, f"The code {where} is not in the value set '{url}'")
        cs = self.codesystems.get(item.system)
        return _check_display(item.display, display, code, item.system, cs.get(code) if cs else None)

    def members(self, valueset: str) -> dict[tuple[str, str], Item]:
        url = valueset.split("|", 1)[0]
        found = self._members.get(url)
        if found is None:
            found = {(i.system, i.code): i for i in self.expand_items(url)}
            self._members[url] = found
        return found

    def expand_items(self, url: str | None = None, resource: dict[str, Any] | None = None) -> list[Item]:
        if resource is not None:
            return self.expander.expand(resource)
        if not url:
            raise BadRequest("$expand needs a ValueSet: 'url', a 'valueSet' resource, or an instance")
        return self.expander.expand_url(url)

    def translate(
        self,
        system: str | None,
        code: str | None,
        *,
        url: str | None = None,
        target_system: str | None = None,
        reverse: bool = False,
    ) -> list[Match]:
        if not system or not code:
            raise BadRequest("$translate needs system and code (or a coding or codeableConcept)")
        if url:
            cm = self.conceptmaps.get(url.split("|", 1)[0])
            if cm is None:
                raise NotFound(f"ConceptMap '{url}' is not known to this server")
            maps = [cm]
        else:
            maps = list(self.conceptmaps.values())
        system = system.split("|", 1)[0]
        known = {s for cm in maps for s in (cm.target_systems if reverse else cm.source_systems)}
        if system not in known:
            raise NotFound(f"No ConceptMap on this server translates {'to' if reverse else 'from'} '{system}'")
        return [m for cm in maps for m in cm.translate(system, code, reverse, target_system)]

    # -- conveniences for in-process callers ---------------------------------------------------

    def display(self, system: str, code: str) -> str | None:
        cs = self.codesystems.get(system)
        concept = cs.get(code) if cs else None
        return concept.display if concept else None

    def in_valueset(self, valueset: str, system: str, code: str) -> bool:
        return (system, code) in self.members(valueset)


_LOADED: dict[tuple[Path, tuple[tuple[str, int, int], ...]], TerminologyService] = {}


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    if not folder.is_dir():
        return ()
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.json")))


def _check_display(
    expected: str | None, given: str | None, code: str, system: str, concept: Concept | None
) -> Validation:
    """A display is right if it is the display or a designation, ignoring case and outer spaces."""
    if given is None or expected is None:
        return Validation(True, None, expected)
    allowed = {expected.lower()}
    if concept is not None:
        allowed.update(str(d.get("value", "")).lower() for d in concept.designations)
    if given.strip().lower() not in allowed:
        return Validation(
            False, f"The display '{given}' is not the display of '{system}#{code}'; it should be '{expected}'", expected
        )
    return Validation(True, None, expected)
