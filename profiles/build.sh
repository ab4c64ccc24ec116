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
# HL7 Europe base (dependency hl7.fhir.eu.base#2.0.0: Address-eu): on no reachable registry, so its
# cache entry is made from profiles/eu-base/, the StructureDefinitions compiled from its FSH sources
# (github.com/hl7-eu/base, CC0). With EU_BASE_GIT=<a clone or git dir of hl7-eu/base> they are first
# recompiled from commit $EU_BASE_COMMIT (eu_base_package.py; see README.md, "Derived from what").
set -eu
SUSHI_VERSION=3.21.0
IPS_VERSION=2.0.0
EU_BASE_VERSION=2.0.0
EU_BASE_COMMIT=04064c7ef9e13c0e77636e857511d2de50014d6b
EU_EXTENSIONS_VERSION=5.3.0-ballot-tc1   # of hl7.fhir.uv.extensions.r4, for the EU base build only
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

if [ -n "${EU_BASE_GIT:-}" ]; then
  EXT="$HOME/.fhir/packages/hl7.fhir.uv.extensions.r4#$EU_EXTENSIONS_VERSION/package"
  if [ ! -f "$EXT/package.json" ]; then
    mkdir -p "$WORK/ext"
    (cd "$WORK/ext" && npm pack --silent "hl7.fhir.uv.extensions.r4@$EU_EXTENSIONS_VERSION" >/dev/null \
      && tar xzf "hl7.fhir.uv.extensions.r4-$EU_EXTENSIONS_VERSION.tgz")
    mkdir -p "$(dirname "$EXT")"
    cp -R "$WORK/ext/package" "$EXT"
  fi
  mkdir -p "$WORK/eu-src"
  git -C "$EU_BASE_GIT" archive "$EU_BASE_COMMIT" input/fsh sushi-config.yaml | tar x -C "$WORK/eu-src"
  python3 "$HERE/eu_base_package.py" prepare "$WORK/eu-src" "$EU_BASE_COMMIT" "$WORK/eu"
  # SUSHI exits with the number of errors: those of the profiles needing a dependency we cannot
  # have; eu_base_package.py collect refuses to ship a selected profile whose FSH had one.
  (cd "$WORK/eu" && npx --yes "fsh-sushi@$SUSHI_VERSION" build --snapshot . >sushi.log 2>&1) || true
  python3 "$HERE/eu_base_package.py" collect "$WORK/eu" "$HERE/eu-base"
fi
EUB="$HOME/.fhir/packages/hl7.fhir.eu.base#$EU_BASE_VERSION/package"
rm -rf "$EUB"
mkdir -p "$EUB"
cp "$HERE"/eu-base/*.json "$EUB"/
python3 - "$EUB" <<'PY'
import json, os, sys
d = sys.argv[1]
files = []
for name in sorted(os.listdir(d)):
    if name.endswith(".json") and name != "package.json":
        r = json.load(open(os.path.join(d, name), encoding="utf-8"))
        e = {k: r.get(k) for k in ("resourceType", "id", "url", "version", "kind", "type")}
        files.append({"filename": name, **{k: v for k, v in e.items() if v is not None}})
json.dump({"index-version": 1, "files": files}, open(os.path.join(d, ".index.json"), "w"))
PY

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
