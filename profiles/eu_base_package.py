"""Make profiles/eu-base/ from the FSH sources of HL7 Europe's base IG (run by build.sh).

HL7 Europe's base package (``hl7.fhir.eu.base``) is on neither npm nor a reachable FHIR registry,
so it is compiled here, with SUSHI, from its sources (https://github.com/hl7-eu/base, CC0-1.0):

    python3 eu_base_package.py prepare <source dir> <commit> <SUSHI project dir>
    (cd <SUSHI project dir> && npx fsh-sushi@3.21.0 build --snapshot . > sushi.log 2>&1)
    python3 eu_base_package.py collect <SUSHI project dir> <out dir>

``<source dir>`` is a checkout of that repository at ``<commit>`` (build.sh makes one with
``git archive`` from EU_BASE_GIT). ``prepare`` copies its ``input/fsh`` and writes a
``sushi-config.yaml`` with the source's id, canonical and version and its dependencies as far
as they can be had:

- ``hl7.fhir.uv.extensions.r4`` 5.2.0 → 5.3.0-ballot-tc1, the only version on npm (every
  extension the base profiles name is in it, with the same URL and value type);
- ``hl7.fhir.uv.xver-r5.r4`` 0.1.0 (R5 cross-version extensions), ``hl7.fhir.eu.extensions.r4``
  1.3.0 and ``ihe.pharm.mpd.r4`` 1.0.0-comment-2 → left out: on no reachable registry.

``collect`` keeps the StructureDefinitions of ``SELECTED`` (the datatype and resource profiles
the LU profiles use or conform to), unchanged (SUSHI's snapshot and differential), and refuses
to ship one whose FSH file had a SUSHI error (a rule skipped because a dependency is missing):
SUSHI's errors are read from ``sushi.log``. It writes ``package.json`` (which marks the folder as
a dependency package for the validator and is the SUSHI cache entry of the LU build) and
``LICENSE.md``.

Standard library only (build.sh runs it with the system python3).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

SOURCE_REPO = "https://github.com/hl7-eu/base"
SUSHI = "fsh-sushi@3.21.0"
PACKAGE = "hl7.fhir.eu.base"
VERSION = "2.0.0"
CANONICAL = "http://hl7.eu/fhir/base"

# dependency in the source's sushi-config.yaml -> the version used here, None = left out
DEPENDENCIES: dict[str, tuple[str, str | None, str]] = {
    "hl7.fhir.uv.extensions.r4": ("5.2.0", "5.3.0-ballot-tc1", "5.2.0 is not on npm; 5.3.0-ballot-tc1 is"),
    "hl7.fhir.uv.xver-r5.r4": ("0.1.0", None, "not on npm nor any reachable registry"),
    "hl7.fhir.eu.extensions.r4": ("1.3.0", None, "not on npm nor any reachable registry"),
    "ihe.pharm.mpd.r4": ("1.0.0-comment-2", None, "not on npm nor any reachable registry"),
}

# The StructureDefinitions shipped: HL7 Europe *base* profiles and their *core* refinements for
# the resources the LU profiles also profile (Patient, Practitioner, PractitionerRole) or name
# (Organization), and the Address datatype profile. The other core profiles (AllergyIntolerance,
# Condition, Composition, Medication..., Flag, Location, BodyStructure) are not used here.
SELECTED = (
    "Address-eu",
    "patient-eu",
    "patient-eu-core",
    "practitioner-eu",
    "practitioner-eu-core",
    "practitionerRole-eu",
    "practitionerRole-eu-core",
    "organization-eu",
    "organization-eu-core",
)


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def prepare(source: Path, commit: str, project: Path) -> int:
    config = (source / "sushi-config.yaml").read_text(encoding="utf-8")
    for key, want in (("id", PACKAGE), ("canonical", CANONICAL), ("version", VERSION), ("fhirVersion", "4.0.1")):
        found = re.search(rf"^{key}:\s*(\S+)", config, re.M)
        if not found or found.group(1) != want:
            raise SystemExit(
                f"eu-base: the source's sushi-config.yaml has {key} {found and found.group(1)}, not {want}"
            )
    for name, (version, _, _) in DEPENDENCIES.items():
        v = re.escape(version)
        pattern = rf"^\s+{re.escape(name)}:(\s*{v}\s*$|\s*$\n\s+uri:.*\n\s+version:\s*{v})"
        if not re.search(pattern, config, re.M):
            raise SystemExit(f"eu-base: the source no longer depends on {name} {version}; review DEPENDENCIES")
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(source / "input" / "fsh", project / "input" / "fsh")
    deps = "".join(f"  {name}: {used}\n" for name, (_, used, _) in DEPENDENCIES.items() if used)
    (project / "sushi-config.yaml").write_text(
        f"# made by profiles/eu_base_package.py from {SOURCE_REPO} at {commit}\n"
        f"canonical: {CANONICAL}\nversion: {VERSION}\nfhirVersion: 4.0.1\nstatus: active\nFSHOnly: true\n"
        f"dependencies:\n{deps}",
        encoding="utf-8",
    )
    (project / "source.json").write_text(json.dumps({"repository": SOURCE_REPO, "commit": commit}), encoding="utf-8")
    print(f"eu-base: SUSHI project in {project}")
    return 0


def failed_files(log: str) -> set[str]:
    """The FSH files SUSHI reported an error in."""
    out: set[str] = set()
    in_error = False
    for line in log.splitlines():
        if line.startswith("error"):
            in_error = True
        elif line.startswith(("info", "warn")):
            in_error = False
        elif in_error and line.strip().startswith("File:"):
            out.add(Path(line.split("File:", 1)[1].strip()).name)
            in_error = False
    return out


def defining_files(fsh: Path) -> dict[str, str]:
    """Profile id -> the FSH file defining it."""
    out = {}
    for path in sorted(fsh.rglob("*.fsh")):
        for found in re.finditer(r"^Id:\s*(\S+)", path.read_text(encoding="utf-8"), re.M):
            out[found.group(1)] = path.name
    return out


def collect(project: Path, out: Path) -> int:
    source = read(project / "source.json")
    failed = failed_files((project / "sushi.log").read_text(encoding="utf-8"))
    where = defining_files(project / "input" / "fsh")
    generated = project / "fsh-generated" / "resources"
    broken = [i for i in SELECTED if where.get(i) in failed]
    if broken:
        raise SystemExit(f"eu-base: SUSHI errors in the FSH of {', '.join(broken)}: not shipped; see sushi.log")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for sd_id in SELECTED:
        sd = read(generated / f"StructureDefinition-{sd_id}.json")
        assert sd["snapshot"]["element"] and sd["version"] == VERSION, sd_id
        shutil.copy(generated / f"StructureDefinition-{sd_id}.json", out / f"StructureDefinition-{sd_id}.json")
    dropped = sorted(
        p.name.removeprefix("StructureDefinition-").removesuffix(".json")
        for p in generated.glob("StructureDefinition-*.json")
        if p.name.removeprefix("StructureDefinition-").removesuffix(".json") not in SELECTED
    )
    package = {
        "name": PACKAGE,
        "version": VERSION,
        "type": "IG",
        "license": "CC0-1.0",
        "canonical": CANONICAL,
        "url": f"{CANONICAL}/ImplementationGuide/base",
        "title": "HL7 Europe Base and Core FHIR IG (selected StructureDefinitions, compiled from FSH)",
        "author": "HL7 Europe",
        "fhirVersions": ["4.0.1"],
        "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
        "source": {
            **source,
            "compiledWith": SUSHI + " build --snapshot",
            "dependenciesUsed": {n: used for n, (_, used, _) in DEPENDENCIES.items() if used},
            "dependenciesSubstituted": {n: f"{v} -> {u}: {why}" for n, (v, u, why) in DEPENDENCIES.items() if u},
            "dependenciesLeftOut": {n: f"{v}: {why}" for n, (v, u, why) in DEPENDENCIES.items() if not u},
            "filesWithSushiErrors": sorted(failed),
            "notShipped": dropped,
        },
    }
    (out / "package.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
    (out / "LICENSE.md").write_text(
        "# HL7 Europe base — licence\n\n"
        f"The StructureDefinitions in this folder are compiled, unchanged, from the FSH sources of\n"
        f"HL7 Europe's *Base and Core FHIR IG* ({PACKAGE} {VERSION}), {SOURCE_REPO} at commit\n"
        f"`{source['commit']}`, with {SUSHI}.\n\n"
        'Licence of the source: Creative Commons "No Rights Reserved" (CC0 1.0). The repository\'s\n'
        "LICENSE reads: *Copyright (c) 2017, HL7. This document is licensed under the terms of HL7's\n"
        'FHIR license. http://hl7.org/fhir/license.html — Creative Commons "No Rights Reserved"\n'
        "(CC0)*; its sushi-config.yaml: *Copyright HL7 Europe. Licensed under creative commons public\n"
        "domain (CC0 1.0).*\n",
        encoding="utf-8",
    )
    print(f"eu-base: {len(SELECTED)} StructureDefinitions -> {out} (not shipped: {len(dropped)})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "prepare":
        sys.exit(prepare(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])))
    if len(sys.argv) == 4 and sys.argv[1] == "collect":
        sys.exit(collect(Path(sys.argv[2]), Path(sys.argv[3])))
    sys.exit(__doc__)
