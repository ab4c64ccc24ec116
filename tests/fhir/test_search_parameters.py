"""The search-parameter registry and its R4 definitions (https://hl7.org/fhir/R4/searchparameter.html)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from support import r4_examples_dir

from fhir_server.fhir.resource_types import SUPPORTED_TYPES
from fhir_server.fhir.search_parameters import SUPPORTED_SEARCH_TYPES, SearchParameterRegistry

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "fhir_server" / "fhir" / "definitions" / "search-parameters.json"
# R4 expressions the fast evaluator leaves to fhirpathpy, by (type, code).
FHIRPATHPY_EXPRESSIONS = {("Patient", "deceased")}


@pytest.fixture(scope="module")
def registry() -> SearchParameterRegistry:
    return SearchParameterRegistry.load_default()


def test_resource_level_parameters(registry: SearchParameterRegistry) -> None:
    params = registry.for_type("Patient")
    for code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"):
        assert code in params
    assert params["_id"].column and params["_lastUpdated"].column
    assert not params["_tag"].column and not params["name"].column
    assert params["_lastUpdated"].type == "date"
    assert params["_profile"].expression == "Resource.meta.profile"


def test_domain_resource_parameters_skip_bundle(registry: SearchParameterRegistry) -> None:
    assert "_text" in registry.for_type("Patient")
    assert "_text" not in registry.for_type("Bundle")
    assert "_id" in registry.for_type("Bundle")


@pytest.mark.parametrize(
    ("resource_type", "code", "kind", "targets"),
    [
        ("Patient", "name", "string", ()),
        ("Patient", "identifier", "token", ()),
        ("Patient", "birthdate", "date", ()),
        ("Patient", "general-practitioner", "reference", ("Organization", "Practitioner", "PractitionerRole")),
        (
            "CareTeam",
            "participant",
            "reference",
            ("CareTeam", "Organization", "Patient", "Practitioner", "PractitionerRole", "RelatedPerson"),
        ),
        ("Composition", "type", "token", ()),
        ("Claim", "created", "date", ()),
        ("ValueSet", "url", "uri", ()),
    ],
)
def test_get(
    registry: SearchParameterRegistry, resource_type: str, code: str, kind: str, targets: tuple[str, ...]
) -> None:
    param = registry.get(resource_type, code)
    assert param is not None
    assert (param.code, param.type, param.targets) == (code, kind, targets)
    assert resource_type in param.base
    assert param.url.startswith("http://hl7.org/fhir/SearchParameter/")


def test_get_unknown(registry: SearchParameterRegistry) -> None:
    assert registry.get("Patient", "no-such-param") is None
    assert registry.get("Observation", "code") is None  # Observation is not a supported type


@pytest.mark.parametrize("resource_type", SUPPORTED_TYPES)
def test_supported_for_type(registry: SearchParameterRegistry, resource_type: str) -> None:
    everything = registry.for_type(resource_type)
    supported = registry.supported_for_type(resource_type)
    assert supported, resource_type
    assert set(supported) <= set(everything)
    for code, param in supported.items():
        assert param.type in SUPPORTED_SEARCH_TYPES
        assert param.column or param.evaluator is not None, code
    for code in ("_text", "_content", "_query"):  # no expression: full-text and named queries
        assert code not in supported


def test_quantity_and_token_composites_are_supported(registry: SearchParameterRegistry) -> None:
    assert registry.supported_for_type("Condition")["onset-age"].type == "quantity"
    assert registry.supported_for_type("CodeSystem")["context-type-value"].type == "composite"


def test_composites_with_quantity_components_are_listed_but_not_supported(registry: SearchParameterRegistry) -> None:
    assert registry.get("CodeSystem", "context-type-quantity").type == "composite"  # type: ignore[union-attr]
    assert "context-type-quantity" not in registry.supported_for_type("CodeSystem")


@pytest.mark.parametrize("resource_type", SUPPORTED_TYPES)
def test_expressions_use_fast_path(registry: SearchParameterRegistry, resource_type: str) -> None:
    slow = {
        (resource_type, code)
        for code, param in registry.supported_for_type(resource_type).items()
        if param.evaluator is not None and param.evaluator.uses_fallback(resource_type)
    }
    assert slow <= FHIRPATHPY_EXPRESSIONS


CUSTOM = {
    "resourceType": "SearchParameter",
    "url": "https://example.lu/fhir/SearchParameter/patient-matricule",
    "code": "matricule",
    "type": "token",
    "base": ["Patient", "Practitioner"],
    "expression": "Patient.identifier.where(system='http://example.lu/matricule') | Practitioner.identifier",
    "description": "Luxembourg national identifier",
}


def test_add_custom_parameter(registry: SearchParameterRegistry) -> None:
    local = SearchParameterRegistry.load_default()
    param = local.add(CUSTOM)
    assert local.get("Patient", "matricule") is param
    assert local.get("Practitioner", "matricule") is param
    assert "matricule" in local.supported_for_type("Patient")
    assert registry.get("Patient", "matricule") is None  # other registries are untouched


def test_add_replaces_same_code() -> None:
    local = SearchParameterRegistry.load_default()
    replacement = {**CUSTOM, "code": "family", "base": ["Patient"], "type": "string", "expression": "Patient.name.text"}
    local.add(replacement)
    assert local.get("Patient", "family").expression == "Patient.name.text"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "resource",
    [
        {**CUSTOM, "resourceType": "Patient"},
        {**CUSTOM, "code": ""},
        {**CUSTOM, "type": "fuzzy"},
        {**CUSTOM, "base": []},
        {k: v for k, v in CUSTOM.items() if k != "base"},
    ],
)
def test_add_rejects_invalid(resource: dict) -> None:
    with pytest.raises(ValueError):
        SearchParameterRegistry().add(resource)


def test_definitions_are_sorted_and_compact() -> None:
    items = json.loads(DEFINITIONS.read_text(encoding="utf-8"))
    assert items == sorted(items, key=lambda p: (p["code"], p["url"]))
    allowed = {
        "url",
        "code",
        "type",
        "base",
        "expression",
        "target",
        "modifier",
        "comparator",
        "multipleOr",
        "multipleAnd",
        "description",
        "component",
    }
    for item in items:
        assert set(item) <= allowed
        assert set(item["base"]) <= set(SUPPORTED_TYPES) | {"Resource", "DomainResource"}


def test_definitions_match_the_r4_package() -> None:
    spec = importlib.util.spec_from_file_location("build_definitions", ROOT / "scripts" / "build_definitions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build(r4_examples_dir()) == json.loads(DEFINITIONS.read_text(encoding="utf-8"))
