"""Copy what the validator needs of the IPS package into profiles/ips/ (run by build.sh).

    python3 ips_package.py <hl7.fhir.uv.ips package dir> <hl7.fhir.r4.core package dir> <out dir>

- every StructureDefinition that constrains a resource or datatype (``derivation: constraint``;
  the logical models are left out), unchanged: they carry full snapshots;
- every ValueSet, unchanged except for an ``expansion`` when its content is fully defined
  offline: explicit concept lists, or whole code systems whose CodeSystem (IPS or R4 core) is
  ``complete``, minus explicit excludes. SNOMED CT, LOINC, EDQM or ATC filters and value set
  imports cannot be expanded here: those ValueSets get no expansion (the validator does not
  check codes against them);
- the package's package.json (name, version, CC0 licence), which marks the folder as a
  dependency package for the validator (loaded, not listed among the server's own profiles).

Standard library only (build.sh runs it with the system python3).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def code_systems(*folders: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for folder in folders:
        for path in sorted(folder.glob("CodeSystem-*.json")):
            cs = read(path)
            if cs.get("content") == "complete":
                out.setdefault(cs["url"], cs)
    return out


def all_codes(cs: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def walk(concepts: list[dict[str, Any]]) -> None:
        for c in concepts:
            out.append(
                {"system": cs["url"], "code": c["code"], **({"display": c["display"]} if "display" in c else {})}
            )
            walk(c.get("concept", []))

    walk(cs.get("concept", []))
    return out


def subsumed(cs: dict[str, Any], code: str, self_too: bool) -> list[dict[str, str]] | None:
    """``code`` (if ``self_too``) and its descendants in a CodeSystem's concept hierarchy."""

    def find(concepts: list[dict[str, Any]]) -> dict[str, Any] | None:
        for c in concepts:
            if c["code"] == code:
                return c
            found = find(c.get("concept", []))
            if found is not None:
                return found
        return None

    top = find(cs.get("concept", []))
    if top is None:
        return None
    below = all_codes({"url": cs["url"], "concept": top.get("concept", [])})
    return ([{"system": cs["url"], "code": top["code"]}] if self_too else []) + below


def concepts_of(part: dict[str, Any], systems: dict[str, dict[str, Any]]) -> list[dict[str, str]] | None:
    """The codes an include/exclude names, or None if they cannot be listed offline (only the
    ``concept`` is-a / descendent-of filters of a complete code system are worked out)."""
    if part.get("valueSet") or not part.get("system"):
        return None
    if part.get("filter"):
        cs = systems.get(part["system"])
        if cs is None or len(part["filter"]) != 1 or part.get("concept"):
            return None
        f = part["filter"][0]
        if f.get("property") != "concept" or f.get("op") not in ("is-a", "descendent-of"):
            return None
        return subsumed(cs, f["value"], f["op"] == "is-a")
    if part.get("concept"):
        return [
            {"system": part["system"], "code": c["code"], **({"display": c["display"]} if "display" in c else {})}
            for c in part["concept"]
        ]
    cs = systems.get(part["system"])
    return all_codes(cs) if cs is not None else None


def expansion(vs: dict[str, Any], systems: dict[str, dict[str, Any]], timestamp: str) -> dict[str, Any] | None:
    compose = vs.get("compose") or {}
    included: list[dict[str, str]] = []
    for part in compose.get("include", []):
        codes = concepts_of(part, systems)
        if codes is None:
            return None
        included += codes
    excluded = set()
    for part in compose.get("exclude", []):
        codes = concepts_of(part, systems)
        if codes is None:
            return None
        excluded |= {(c["system"], c["code"]) for c in codes}
    contains = [c for c in included if (c["system"], c["code"]) not in excluded]
    if not contains:
        return None
    return {"timestamp": timestamp, "total": len(contains), "contains": contains}


def main(package: Path, core: Path, out: Path) -> int:
    meta = read(package / "package.json")
    d = meta.get("date", "")
    timestamp = (
        f"{d[0:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}Z" if len(d) == 14 else "2025-01-01T00:00:00Z"
    )
    systems = code_systems(package, core)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(package / "package.json", out / "package.json")
    sds = vss = expanded = 0
    for path in sorted(package.glob("StructureDefinition-*.json")):
        if read(path).get("derivation") == "constraint":
            shutil.copy(path, out / path.name)
            sds += 1
    for path in sorted(package.glob("ValueSet-*.json")):
        vs = read(path)
        exp = expansion(vs, systems, timestamp)
        if exp is not None:
            vs["expansion"] = exp
            expanded += 1
        (out / path.name).write_text(json.dumps(vs, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        vss += 1
    print(f"ips: {sds} StructureDefinitions, {vss} ValueSets ({expanded} expanded) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
