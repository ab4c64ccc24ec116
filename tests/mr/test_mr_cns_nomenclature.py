"""terminology/CodeSystem-cns-nomenclature.json: a valid R4 CodeSystem whose codes carry what the rules need."""

from pathlib import Path

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhir_server.mr.prestations import LIMITED_CATEGORIES
from fhir_server.terminology.service import TerminologyService

FOLDER = Path(__file__).resolve().parents[2] / "terminology"
URL = "https://fhir.mr.lu/CodeSystem/cns-nomenclature"
CATEGORIES = {"consultation", "visit", "renewal", "injection-series", "dressing-series", "coordination-fee", "other"}


def _cs():
    return orjson.loads((FOLDER / "CodeSystem-cns-nomenclature.json").read_bytes())


def _walk(concepts):
    for c in concepts:
        yield c
        yield from _walk(c.get("concept", []))


def _props(concept):
    return {p["code"]: next(v for k, v in p.items() if k.startswith("value")) for p in concept["property"]}


def test_is_a_valid_r4_codesystem():
    cs = _cs()
    get_fhir_model_class("CodeSystem").model_validate(cs)
    assert (cs["id"], cs["url"]) == ("cns-nomenclature", URL)
    assert cs["count"] == len(list(_walk(cs["concept"])))
    for key in ("publisher", "copyright", "description", "version"):
        assert cs[key]


def test_every_concept_has_category_source_and_confidence():
    for concept in _walk(_cs()["concept"]):
        props = _props(concept)
        assert props["category"] in CATEGORIES, concept["code"]
        assert props["source"] and props["confidence"] in {"high", "medium", "low"}, concept["code"]
        # grouping concepts (code starting with "_") are not billable, billable ones are
        assert props.get("notSelectable", False) is concept["code"].startswith("_")


def test_every_category_has_a_grouping_concept():
    groups = {_props(c)["category"] for c in _cs()["concept"] if c["code"].startswith("_")}
    assert groups == CATEGORIES
    assert LIMITED_CATEGORIES <= CATEGORIES


@pytest.mark.parametrize(
    "code, category, confidence, coefficient",
    [
        ("MR03", "coordination-fee", "high", "24.71"),
        ("C1", "consultation", "medium", None),
        ("MR01", "other", "low", None),
    ],
)
def test_served_by_the_terminology_service(code, category, confidence, coefficient):
    concept = TerminologyService.load(FOLDER).lookup(URL, code).concept
    assert concept.property_values("category") == [category]
    assert concept.property_values("confidence") == [confidence]
    assert concept.property_values("coefficient") == ([coefficient] if coefficient else [])
