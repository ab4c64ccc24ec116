"""Build fhir_server/fhir/definitions/search-parameters.json from the R4 4.0.1 package.

Usage: python scripts/build_definitions.py <folder of hl7.fhir.r4.examples@4.0.1/package>

Reads the specification's own search-parameter bundle (Bundle-searchParams.json) and
keeps the SearchParameters whose base is a supported type or Resource/DomainResource,
with only the fields the registry needs. Output is sorted and byte-for-byte
reproducible so that it can be committed. See https://hl7.org/fhir/R4/searchparameter.html
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhir_server.fhir.resource_types import SUPPORTED_TYPES  # noqa: E402

OUTPUT = ROOT / "fhir_server" / "fhir" / "definitions" / "search-parameters.json"
ABSTRACT_BASES = ("Resource", "DomainResource")
KEPT_FIELDS = ("url", "code", "type", "expression", "modifier", "comparator", "multipleOr", "multipleAnd")
DESCRIPTION_LIMIT = 200


def short_description(text: str) -> str:
    """First line of a description, cut to DESCRIPTION_LIMIT characters."""
    first = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    return first if len(first) <= DESCRIPTION_LIMIT else first[: DESCRIPTION_LIMIT - 1] + "…"


def compact(parameter: dict, wanted: frozenset[str]) -> dict | None:
    """The kept fields of one SearchParameter, or None when no base is wanted."""
    base = [b for b in parameter.get("base", []) if b in wanted]
    if not base:
        return None
    out = {key: parameter[key] for key in KEPT_FIELDS if key in parameter}
    out["base"] = base
    if parameter.get("target"):
        out["target"] = sorted(parameter["target"])
    if parameter.get("component"):
        out["component"] = [
            {"definition": c["definition"], "expression": c["expression"]} for c in parameter["component"]
        ]
    out["description"] = short_description(parameter.get("description", ""))
    return out


def build(package: Path) -> list[dict]:
    """All kept SearchParameters of the package, sorted by (code, url)."""
    source = package / "Bundle-searchParams.json"
    if not source.is_file():
        raise SystemExit(f"{source} not found: pass the 'package' folder of hl7.fhir.r4.examples@4.0.1")
    bundle = json.loads(source.read_text(encoding="utf-8"))
    wanted = frozenset(SUPPORTED_TYPES + ABSTRACT_BASES)
    kept = []
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "SearchParameter":
            item = compact(resource, wanted)
            if item is not None:
                kept.append(item)
    return sorted(kept, key=lambda p: (p["code"], p["url"]))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    parameters = build(Path(argv[1]))
    lines = (json.dumps(p, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for p in parameters)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    print(f"wrote {len(parameters)} search parameters to {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
