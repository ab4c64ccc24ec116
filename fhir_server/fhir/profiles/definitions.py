"""StructureDefinitions the validator knows: the base R4 ones and those of profile folders.

The base comes from ``fhir_server/fhir/definitions/structure-definitions.json``, written by
``scripts/build_profiles_base.py``: per StructureDefinition its snapshot elements reduced to
what validation needs (see :func:`compact_element`), constraints stored once by key, and
enumerations of the ValueSets bound (required or extensible) whose content the R4 package
fully defines. A profile folder adds full StructureDefinition JSON files (snapshot and/or
differential), reduced the same way. A subfolder holding a ``package.json`` is a copy of a
FHIR package the profiles depend on (``profiles/ips/``: the International Patient Summary;
``profiles/eu-base/``: HL7 Europe base, compiled from its FSH sources):
its StructureDefinitions are loaded but are not the server's own profiles (``profiles``), and
its ValueSets add enumerations when their content is listed (``expansion.contains``, or a
``compose`` of concept lists only).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BASE_FILE = Path(__file__).resolve().parents[1] / "definitions" / "structure-definitions.json"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_TYPE_PREFIX = "http://hl7.org/fhirpath/System."


def type_code(t: dict[str, Any]) -> str:
    """The FHIR type of an ElementDefinition.type (System.String of id/url → their FHIR type)."""
    code = t["code"]
    if code.startswith(SYSTEM_TYPE_PREFIX):
        for ext in t.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return ext["valueUrl"]
    return code


def compact_element(e: dict[str, Any], constraints: dict[str, dict[str, Any]], source: str = "") -> dict[str, Any]:
    """What the validator needs of one ElementDefinition; its constraints go to ``constraints``
    (by key; a key already used with another expression is stored as ``key|source``)."""
    out: dict[str, Any] = {"id": e.get("id") or e["path"], "path": e["path"]}
    for key in ("min", "max", "sliceName", "contentReference"):
        if key in e:
            out[key] = e[key]
    base_max = (e.get("base") or {}).get("max")
    if base_max is not None and base_max != e.get("max"):
        out["baseMax"] = base_max
    types = []
    for t in e.get("type", []):
        ct: dict[str, Any] = {"code": type_code(t)}
        for key in ("profile", "targetProfile"):
            if t.get(key):
                ct[key] = t[key]
        types.append(ct)
    if types:
        out["type"] = types
    for key, value in e.items():
        if key.startswith("fixed") or key.startswith("pattern"):
            out[key] = value
    binding = e.get("binding")
    if binding and binding.get("valueSet"):
        out["binding"] = {"strength": binding["strength"], "valueSet": binding["valueSet"]}
    if e.get("slicing"):
        out["slicing"] = {k: e["slicing"][k] for k in ("discriminator", "rules", "ordered") if k in e["slicing"]}
    keys = []
    for c in e.get("constraint", []):
        entry = {k: c[k] for k in ("key", "severity", "human", "expression") if k in c}
        ident = c["key"]
        previous = constraints.setdefault(ident, entry)
        if previous != entry:
            ident = f"{c['key']}|{source}"
            constraints[ident] = entry
        keys.append(ident)
    if keys:
        out["constraint"] = keys
    return out


def compact_structure_definition(sd: dict[str, Any], constraints: dict[str, dict[str, Any]]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "url": sd["url"],
        "name": sd.get("name", sd.get("id", "")),
        "type": sd["type"],
        "kind": sd.get("kind", "resource"),
        "abstract": sd.get("abstract", False),
    }
    for key in ("baseDefinition", "derivation"):
        if key in sd:
            entry[key] = sd[key]
    if (sd.get("snapshot") or {}).get("element"):
        entry["elements"] = [compact_element(e, constraints, sd["url"]) for e in sd["snapshot"]["element"]]
    elif (sd.get("differential") or {}).get("element"):
        entry["differential"] = [compact_element(e, constraints, sd["url"]) for e in sd["differential"]["element"]]
    else:
        raise ValueError(f"StructureDefinition {sd['url']} has neither snapshot nor differential")
    return entry


@dataclass
class Definitions:
    """StructureDefinitions by canonical URL, constraints by key, enumerated ValueSets by URL."""

    structure_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    constraints: dict[str, dict[str, Any]] = field(default_factory=dict)
    value_sets: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)  # URLs of the definitions added from folders

    @classmethod
    def base(cls) -> Definitions:
        raw = _base_json()
        sds = {sd["url"]: sd for sd in raw["structureDefinitions"]}
        constraints = {k: {"key": k, **v} for k, v in raw["constraints"].items()}
        value_sets = {url: frozenset((s, c) for s, c in members) for url, members in raw["valueSets"].items()}
        return cls(sds, constraints, value_sets)

    @classmethod
    def load(cls, *folders: Path | None) -> Definitions:
        """The base definitions plus every StructureDefinition JSON file under the folders."""
        definitions = cls.base()
        for folder in folders:
            if folder is not None and Path(folder).is_dir():
                definitions.add_folder(Path(folder))
        return definitions

    def add_folder(self, folder: Path) -> None:
        packages = {p.parent for p in folder.rglob("package.json") if p.parent != folder}
        for path in sorted(folder.rglob("*.json")):
            if path.name == "package.json":
                continue
            try:
                resource = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("profiles: %s is not JSON; ignored", path)
                continue
            if not isinstance(resource, dict):
                continue
            dependency = any(p in packages for p in path.parents)
            if resource.get("resourceType") == "StructureDefinition":
                self.add(resource, own=not dependency)
            elif resource.get("resourceType") == "ValueSet" and dependency:
                self.add_value_set(resource)

    def add(self, sd: dict[str, Any], own: bool = True) -> None:
        """Add a StructureDefinition resource (snapshot and/or differential); ``own``: one of the
        server's profiles, not a dependency's."""
        compact = compact_structure_definition(sd, self.constraints)
        self.structure_definitions[compact["url"]] = compact
        if own:
            self.profiles.append(compact["url"])

    def add_value_set(self, vs: dict[str, Any]) -> None:
        """The enumeration of a ValueSet whose codes it lists itself; others stay unknown."""
        members = enumeration(vs)
        if members is not None and isinstance(vs.get("url"), str):
            self.value_sets.setdefault(vs["url"], members)

    def by_url(self, url: str) -> dict[str, Any] | None:
        return self.structure_definitions.get(url.split("|", 1)[0])


def enumeration(vs: dict[str, Any]) -> frozenset[tuple[str, str]] | None:
    """(system, code) of ``expansion.contains``, else of a compose made only of concept lists."""
    expansion = (vs.get("expansion") or {}).get("contains")
    if expansion:
        out: set[tuple[str, str]] = set()
        stack = list(expansion)
        while stack:
            c = stack.pop()
            if c.get("code") and c.get("system"):
                out.add((c["system"], c["code"]))
            stack.extend(c.get("contains", ()))
        return frozenset(out)
    compose = vs.get("compose") or {}
    includes = compose.get("include") or []
    listed = all(
        i.get("system") and i.get("concept") and not i.get("filter") and not i.get("valueSet") for i in includes
    )
    if not includes or compose.get("exclude") or not listed:
        return None
    return frozenset((i["system"], c["code"]) for i in includes for c in i["concept"])


@cache
def _base_json() -> dict[str, Any]:
    return json.loads(BASE_FILE.read_text(encoding="utf-8"))
