#!/bin/sh
# Compile profiles/fsh/*.fsh with SUSHI and copy the JSON that ships:
#   StructureDefinitions -> profiles/structure-definitions/
#   NamingSystems        -> profiles/naming-systems/
#   CodeSystems/ValueSets-> terminology/   (the terminology service loads them; bindings need them)
#   the IPS profiles     -> profiles/ips/   (the validator needs the parents of the LU profiles)
#
# SUSHI needs the package hl7.fhir.r4.core#4.0.1 in the FHIR package cache (~/.fhir/packages).
# packages.fhir.org is not reachable from our machines and hl7.fhir.r4.core is not on npm, so the
# cache entry is made from the npm package hl7.fhir.r4.examples@4.0.1 (the same R4 definitions:
# StructureDefinitions, ValueSets, CodeSystems), unless a real one is already there.
# The LU profiles derive from the International Patient Summary (sushi-config.yaml: dependency
# hl7.fhir.uv.ips#2.0.0): its cache entry is made from the npm package of the same name and
# version. IPS declares hl7.terminology.r4, hl7.fhir.uv.extensions.r4 and hl7.fhir.uv.ipa as
# dependencies; SUSHI does not load dependencies of dependencies, and the IPS profiles carry full
# snapshots (no IPS StructureDefinition derives from an IPA one), so they are not needed.
# SUSHI's automatic dependencies (hl7.fhir.uv.tools.r4, hl7.terminology.r4,
# hl7.fhir.uv.extensions.r4) then fail to load with a warning: nothing here uses them.
set -eu
SUSHI_VERSION=3.21.0
IPS_VERSION=2.0.0
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

CORE="$HOME/.fhir/packages/hl7.fhir.r4.core#4.0.1/package"
if [ ! -f "$CORE/package.json" ]; then
  EX="${FHIR_R4_EXAMPLES:-$ROOT/.cache/r4ex/package}"
  if [ ! -d "$EX" ]; then
    (cd "$WORK" && npm pack --silent hl7.fhir.r4.examples@4.0.1 >/dev/null && tar xzf hl7.fhir.r4.examples-4.0.1.tgz)
    EX="$WORK/package"
  fi
  mkdir -p "$CORE"
  cp "$EX"/StructureDefinition-*.json "$EX"/ValueSet-*.json "$EX"/CodeSystem-*.json "$CORE"/
  python3 - "$CORE" <<'PY'
import json, os, sys
d = sys.argv[1]
json.dump({"name": "hl7.fhir.r4.core", "version": "4.0.1", "fhirVersions": ["4.0.1"], "type": "fhir.core",
           "canonical": "http://hl7.org/fhir", "url": "http://hl7.org/fhir/R4"}, open(os.path.join(d, "package.json"), "w"))
files = []
for name in sorted(os.listdir(d)):
    if name.endswith(".json") and name != "package.json":
        r = json.load(open(os.path.join(d, name), encoding="utf-8"))
        e = {k: r.get(k) for k in ("resourceType", "id", "url", "version", "kind", "type")}
        files.append({"filename": name, **{k: v for k, v in e.items() if v is not None}})
json.dump({"index-version": 1, "files": files}, open(os.path.join(d, ".index.json"), "w"))
PY
fi

IPS="$HOME/.fhir/packages/hl7.fhir.uv.ips#$IPS_VERSION/package"
if [ ! -f "$IPS/package.json" ]; then
  mkdir -p "$WORK/ips"
  (cd "$WORK/ips" && npm pack --silent "hl7.fhir.uv.ips@$IPS_VERSION" >/dev/null && tar xzf "hl7.fhir.uv.ips-$IPS_VERSION.tgz")
  mkdir -p "$(dirname "$IPS")"
  cp -R "$WORK/ips/package" "$IPS"
fi

mkdir -p "$WORK/project/input/fsh"
cp "$HERE/sushi-config.yaml" "$WORK/project/"
cp "$HERE"/fsh/*.fsh "$WORK/project/input/fsh/"
(cd "$WORK/project" && npx --yes "fsh-sushi@$SUSHI_VERSION" build --snapshot . )
OUT="$WORK/project/fsh-generated/resources"

rm -rf "$HERE/structure-definitions" "$HERE/naming-systems"
mkdir -p "$HERE/structure-definitions" "$HERE/naming-systems"
cp "$OUT"/StructureDefinition-*.json "$HERE/structure-definitions/"
cp "$OUT"/NamingSystem-*.json "$HERE/naming-systems/"
for f in "$OUT"/CodeSystem-*.json "$OUT"/ValueSet-*.json; do
  cp "$f" "$ROOT/terminology/$(basename "$f" .json | sed 's/^\(CodeSystem\|ValueSet\)-/\1-lu-/').json"
done
python3 "$HERE/ips_package.py" "$IPS" "$CORE" "$HERE/ips"
# pretty, stable JSON (SUSHI already writes 2-space indented JSON)
echo "profiles: $(ls "$HERE/structure-definitions" | wc -l) StructureDefinitions, $(ls "$HERE/naming-systems" | wc -l) NamingSystems"
