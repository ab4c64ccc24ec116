"""Build fhir_server/fhir/definitions/structure-definitions.json from the R4 4.0.1 package.

Usage: python scripts/build_profiles_base.py <folder of hl7.fhir.r4.examples@4.0.1/package>

Keeps, of the base R4 StructureDefinitions of the supported types (plus a few types that
LU documents carry, EXTRA_TYPES) and of every datatype they use, what the profile
validator needs of each snapshot element: id, path, min, max, types (code, profile,
targetProfile), fixed[x]/pattern[x], binding (strength, valueSet), constraint keys,
slicing, sliceName, contentReference. Constraints are stored once, by key, in
``constraints``; the regex of each primitive type in ``regex``.

It also stores, in ``valueSets``, the enumeration (system, code) of each ValueSet bound
with strength required or extensible whose content the package fully defines (concept
lists, or whole code systems whose content is complete; no filters). The validator uses
these when the server's terminology service does not know the ValueSet.

Output is sorted and byte-for-byte reproducible so that it can be committed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhir_server.fhir.profiles.definitions import compact_element, type_code  # noqa: E402
from fhir_server.fhir.resource_types import SUPPORTED_TYPES  # noqa: E402

OUTPUT = ROOT / "fhir_server" / "fhir" / "definitions" / "structure-definitions.json"
# Resource types a résumé patient (IPS-like) document carries beside the supported ones.
EXTRA_TYPES = (
    "AllergyIntolerance",
    "MedicationStatement",
    "MedicationRequest",
    "Medication",
    "Observation",
    "Immunization",
    "Procedure",
    "Device",
    "DeviceUseStatement",
)
ALWAYS = ("Resource", "DomainResource", "Element", "BackboneElement", "Extension", "Narrative", "Meta", "xhtml")
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def regex_of(sd: dict[str, Any]) -> str | None:
    for e in sd["snapshot"]["element"]:
        if e["path"].endswith(".value"):
            for t in e.get("type", []):
                for ext in t.get("extension", []):
                    if ext.get("url") == REGEX_EXT:
                        return ext["valueString"]
    return None


def load(package: Path, name: str) -> dict[str, Any] | None:
    path = package / f"StructureDefinition-{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def collect(package: Path) -> dict[str, dict[str, Any]]:
    """Every needed StructureDefinition by id: the wanted types and, transitively, their types."""
    todo = list(dict.fromkeys((*SUPPORTED_TYPES, *EXTRA_TYPES, *ALWAYS)))
    found: dict[str, dict[str, Any]] = {}
    while todo:
        name = todo.pop()
        if name in found:
            continue
        sd = load(package, name)
        if sd is None:
            continue
        found[name] = sd
        base = sd.get("baseDefinition", "")
        if base.startswith(SD_PREFIX):
            todo.append(base.removeprefix(SD_PREFIX))
        for e in sd["snapshot"]["element"]:
            for t in e.get("type", []):
                todo.append(type_code(t))
                for p in t.get("profile", []):
                    if p.startswith(SD_PREFIX):
                        todo.append(p.removeprefix(SD_PREFIX))
    return found


def codes_of_system(cs: dict[str, Any]) -> list[str] | None:
    if cs.get("content") != "complete":
        return None
    codes: list[str] = []

    def walk(concepts: list[dict[str, Any]]) -> None:
        for c in concepts:
            codes.append(c["code"])
            walk(c.get("concept", []))

    walk(cs.get("concept", []))
    return codes


def enumerate_valueset(
    url: str, valuesets: dict[str, dict[str, Any]], systems: dict[str, dict[str, Any]], depth: int = 0
) -> set[tuple[str, str]] | None:
    vs = valuesets.get(url)
    if vs is None or depth > 5 or "compose" not in vs or vs["compose"].get("exclude"):
        return None
    members: set[tuple[str, str]] = set()
    for inc in vs["compose"].get("include", []):
        if inc.get("filter"):
            return None
        part: set[tuple[str, str]] | None = None
        system = inc.get("system")
        if system and inc.get("concept"):
            part = {(system, c["code"]) for c in inc["concept"]}
        elif system:
            cs = systems.get(system)
            codes = codes_of_system(cs) if cs else None
            if codes is None:
                return None
            part = {(system, c) for c in codes}
        for nested in inc.get("valueSet", []):
            sub = enumerate_valueset(nested.split("|")[0], valuesets, systems, depth + 1)
            if sub is None:
                return None
            part = sub if part is None else part & sub
        if part is None:
            return None
        members |= part
    return members


def build(package: Path) -> dict[str, Any]:
    sds = collect(package)
    constraints: dict[str, dict[str, Any]] = {}
    definitions = []
    bound: set[str] = set()
    for name in sorted(sds):
        sd = sds[name]
        elements = [compact_element(e, constraints, sd["url"]) for e in sd["snapshot"]["element"]]
        for e in elements:
            b = e.get("binding")
            if b and b["strength"] in ("required", "extensible"):
                bound.add(b["valueSet"].split("|")[0])
        entry: dict[str, Any] = {
            "url": sd["url"],
            "name": sd["name"],
            "type": sd["type"],
            "kind": sd["kind"],
            "abstract": sd.get("abstract", False),
        }
        for key in ("baseDefinition", "derivation"):
            if key in sd:
                entry[key] = sd[key]
        if sd["kind"] == "primitive-type":
            regex = regex_of(sd)
            if regex:
                entry["regex"] = regex
        entry["elements"] = elements
        definitions.append(entry)
    valuesets: dict[str, dict[str, Any]] = {}
    systems: dict[str, dict[str, Any]] = {}
    for path in package.glob("ValueSet-*.json"):
        vs = json.loads(path.read_text(encoding="utf-8"))
        if vs.get("url") in bound:
            valuesets[vs["url"]] = vs
    for path in package.glob("CodeSystem-*.json"):
        cs = json.loads(path.read_text(encoding="utf-8"))
        if cs.get("url"):
            systems[cs["url"]] = cs
    enumerations = {}
    for url in sorted(valuesets):
        members = enumerate_valueset(url, valuesets, systems)
        if members is not None and len(members) <= 2000:
            enumerations[url] = sorted([s, c] for s, c in members)
    return {
        "source": "hl7.fhir.r4.examples@4.0.1",
        "constraints": {k: {f: v for f, v in c.items() if f != "key"} for k, c in sorted(constraints.items())},
        "structureDefinitions": definitions,
        "valueSets": enumerations,
    }


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = build(Path(sys.argv[1]))
    OUTPUT.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n", "utf-8")
    n = len(out["structureDefinitions"])
    print(
        f"{OUTPUT}: {n} StructureDefinitions, {len(out['constraints'])} constraints, "
        f"{len(out['valueSets'])} enumerated ValueSets, {OUTPUT.stat().st_size} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
