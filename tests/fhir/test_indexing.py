"""Index entries extracted from resources (https://hl7.org/fhir/R4/search.html)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from support import official_examples

from fhir_server.fhir.dates import MAX_US, parse_date_range
from fhir_server.fhir.index_model import DateEntry, ReferenceEntry, ResourceIndex, StringEntry, TokenEntry, UriEntry
from fhir_server.fhir.indexing import IndexExtractor
from fhir_server.fhir.references import ParsedReference, parse_canonical, parse_reference
from fhir_server.fhir.resource_types import SUPPORTED_TYPES
from fhir_server.fhir.search_parameters import SearchParameterRegistry
from fhir_server.fhir.text import normalize_string

LUX = ZoneInfo("Europe/Luxembourg")
MATRICULE = "http://example.lu/fhir/sid/matricule"


@pytest.fixture(scope="module")
def extractor() -> IndexExtractor:
    return IndexExtractor(SearchParameterRegistry.load_default(), LUX)


def by_param(index: ResourceIndex) -> dict[str, set[Any]]:
    """Entries grouped by parameter code, without the code."""
    out: dict[str, set[Any]] = defaultdict(set)
    for entry in index.tokens:
        out[entry.param].add((entry.system, entry.code, entry.text))
    for entry in index.strings:
        out[entry.param].add((entry.value, entry.raw))
    for entry in index.dates:
        out[entry.param].add((entry.low, entry.high))
    for entry in index.references:
        out[entry.param].add((entry.target_type, entry.target_id, entry.version, entry.url))
    for entry in index.uris:
        out[entry.param].add(entry.value)
    return out


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Müller", "muller"),
        ("Léa", "lea"),
        ("  Jean \t Pierre\n", "jean pierre"),
        ("Straße", "strasse"),
        ("ÉCOLE", "ecole"),
        ("ＡＢＣ", "abc"),
        ("Ångström", "angstrom"),
        ("", ""),
    ],
)
def test_normalize_string(raw: str, normalized: str) -> None:
    assert normalize_string(raw) == normalized


@pytest.mark.parametrize(
    ("text", "default_type", "expected"),
    [
        ("Patient/123", None, ParsedReference("Patient", "123", None, None)),
        ("Patient/123/_history/2", None, ParsedReference("Patient", "123", "2", None)),
        (
            "https://other.example/fhir/Practitioner/dr-9",
            None,
            ParsedReference("Practitioner", "dr-9", None, "https://other.example/fhir/Practitioner/dr-9"),
        ),
        (
            "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
            None,
            ParsedReference(None, None, None, "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"),
        ),
        ("123", "Patient", ParsedReference("Patient", "123", None, None)),
        ("123", None, ParsedReference(None, "123", None, None)),
        ("#contained-1", None, None),
        ("", None, None),
    ],
)
def test_parse_reference(text: str, default_type: str | None, expected: ParsedReference | None) -> None:
    assert parse_reference(text, default_type) == expected


def test_parse_canonical() -> None:
    assert parse_canonical("http://hl7.org/fhir/ValueSet/x|4.0.1") == ParsedReference(
        None, None, "4.0.1", "http://hl7.org/fhir/ValueSet/x"
    )
    assert parse_canonical("http://hl7.org/fhir/ValueSet/x") == ParsedReference(
        None, None, None, "http://hl7.org/fhir/ValueSet/x"
    )


PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": {
        "lastUpdated": "2024-05-01T10:00:00Z",
        "profile": ["http://example.lu/fhir/StructureDefinition/lu-patient"],
        "tag": [{"system": "http://example.lu/tags", "code": "mr", "display": "Médecin référent"}],
        "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}],
        "source": "https://cns.example.lu/fhir",
    },
    "identifier": [
        {"system": MATRICULE, "value": "1985061512345", "type": {"text": "Matricule"}},
        {"system": "urn:oid:1.2.3", "value": "A-77"},
    ],
    "active": True,
    "name": [
        {"use": "official", "family": "Müller", "given": ["Léa", "Marie"], "prefix": ["Dr."]},
        {"text": "Léa  Müller-Schmit"},
    ],
    "telecom": [
        {"system": "phone", "value": "+352 621 123 456", "use": "mobile"},
        {"system": "email", "value": "lea.muller@example.lu"},
    ],
    "gender": "female",
    "birthDate": "1985-06-15",
    "address": [{"line": ["12, rue de l'Église"], "city": "Esch-sur-Alzette", "postalCode": "L-4001", "country": "LU"}],
    "generalPractitioner": [
        {"reference": "Practitioner/dr-1"},
        {"reference": "https://other.example/fhir/PractitionerRole/role-2"},
    ],
    "managingOrganization": {"reference": "Organization/cns"},
}


def test_patient(extractor: IndexExtractor) -> None:
    got = by_param(extractor.extract(PATIENT))
    assert got["identifier"] == {(MATRICULE, "1985061512345", "matricule"), ("urn:oid:1.2.3", "A-77", None)}
    assert got["active"] == {(None, "true", None)}
    assert got["gender"] == {(None, "female", None)}
    assert got["telecom"] == {(None, "+352 621 123 456", None), (None, "lea.muller@example.lu", None)}
    assert got["phone"] == {(None, "+352 621 123 456", None)}
    assert got["email"] == {(None, "lea.muller@example.lu", None)}
    assert got["deceased"] == {(None, "false", None)}
    assert got["family"] == {("muller", "Müller")}
    assert got["given"] == {("lea", "Léa"), ("marie", "Marie")}
    assert got["name"] == {
        ("muller", "Müller"),
        ("lea", "Léa"),
        ("marie", "Marie"),
        ("dr.", "Dr."),
        ("lea muller-schmit", "Léa  Müller-Schmit"),
    }
    assert got["address"] == {
        ("12, rue de l'eglise", "12, rue de l'Église"),
        ("esch-sur-alzette", "Esch-sur-Alzette"),
        ("l-4001", "L-4001"),
        ("lu", "LU"),
    }
    assert got["address-city"] == {("esch-sur-alzette", "Esch-sur-Alzette")}
    assert got["address-postalcode"] == {("l-4001", "L-4001")}
    assert got["birthdate"] == {parse_date_range("1985-06-15", LUX)}
    assert got["general-practitioner"] == {
        ("Practitioner", "dr-1", None, None),
        ("PractitionerRole", "role-2", None, "https://other.example/fhir/PractitionerRole/role-2"),
    }
    assert got["organization"] == {("Organization", "cns", None, None)}
    assert got["_tag"] == {("http://example.lu/tags", "mr", "medecin referent")}
    assert got["_security"] == {("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "N", None)}
    assert got["_profile"] == {"http://example.lu/fhir/StructureDefinition/lu-patient"}
    assert got["_source"] == {"https://cns.example.lu/fhir"}
    for column in ("_id", "_lastUpdated"):  # answered from store columns
        assert column not in got


def test_patient_deceased_date_and_bad_values(extractor: IndexExtractor) -> None:
    patient = {"resourceType": "Patient", "deceasedDateTime": "2024-03-31T02:30:00+02:00", "birthDate": "15/06/1985"}
    got = by_param(extractor.extract(patient))
    assert got["death-date"] == {parse_date_range("2024-03-31T02:30:00+02:00", LUX)}
    assert got["deceased"] == {(None, "true", None)}
    assert "birthdate" not in got  # malformed date skipped, the write goes on


def test_entries_are_typed_and_unique(extractor: IndexExtractor) -> None:
    index = extractor.extract(PATIENT)
    assert all(isinstance(e, TokenEntry) for e in index.tokens)
    assert all(isinstance(e, StringEntry) for e in index.strings)
    assert all(isinstance(e, DateEntry) for e in index.dates)
    assert all(isinstance(e, ReferenceEntry) for e in index.references)
    assert all(isinstance(e, UriEntry) for e in index.uris)
    for entries in (index.tokens, index.strings, index.dates, index.references, index.uris):
        assert len(entries) == len(set(entries))


def test_care_team(extractor: IndexExtractor) -> None:
    care_team = {
        "resourceType": "CareTeam",
        "id": "ct1",
        "status": "active",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://loinc.org",
                        "code": "LA28865-6",
                        "display": "Longitudinal care-coordination focused care team",
                    }
                ]
            }
        ],
        "subject": {"reference": "Patient/p1"},
        "period": {"start": "2024-01-01"},
        "participant": [
            {"member": {"reference": "Practitioner/dr-1"}, "period": {"start": "2024-01-01"}},
            {"member": {"reference": "Organization/cns"}},
            {"member": {"reference": "#contained-nurse"}},
        ],
    }
    got = by_param(extractor.extract(care_team))
    assert got["status"] == {(None, "active", None)}
    assert got["category"] == {("http://loinc.org", "LA28865-6", "longitudinal care-coordination focused care team")}
    assert got["subject"] == {("Patient", "p1", None, None)}
    assert got["patient"] == {("Patient", "p1", None, None)}
    assert got["participant"] == {("Practitioner", "dr-1", None, None), ("Organization", "cns", None, None)}
    assert got["date"] == {(parse_date_range("2024-01-01", LUX)[0], MAX_US)}


def test_composition(extractor: IndexExtractor) -> None:
    composition = {
        "resourceType": "Composition",
        "status": "final",
        "type": {
            "coding": [{"system": "http://loinc.org", "code": "34133-9", "display": "Summary of episode note"}],
            "text": "Résumé",
        },
        "subject": {"reference": "Patient/p1"},
        "date": "2024-05-02T09:00:00+02:00",
        "author": [{"reference": "Practitioner/dr-1"}, {"reference": "Organization/cns"}],
        "title": "Dossier de soins partagé",
    }
    got = by_param(extractor.extract(composition))
    assert got["type"] == {("http://loinc.org", "34133-9", "summary of episode note"), (None, None, "resume")}
    assert got["status"] == {(None, "final", None)}
    assert got["subject"] == {("Patient", "p1", None, None)}
    assert got["patient"] == {("Patient", "p1", None, None)}
    assert got["author"] == {("Practitioner", "dr-1", None, None), ("Organization", "cns", None, None)}
    assert got["date"] == {parse_date_range("2024-05-02T07:00:00Z", LUX)}
    assert got["title"] == {("dossier de soins partage", "Dossier de soins partagé")}


def test_resolve_is_filters_on_target_type(extractor: IndexExtractor) -> None:
    composition = {"resourceType": "Composition", "subject": {"reference": "Group/g1"}, "status": "final"}
    got = by_param(extractor.extract(composition))
    assert got["subject"] == {("Group", "g1", None, None)}
    assert "patient" not in got


def test_claim(extractor: IndexExtractor) -> None:
    claim = {
        "resourceType": "Claim",
        "identifier": [{"system": "http://example.lu/claims", "value": "C-1"}],
        "status": "active",
        "use": "claim",
        "patient": {"reference": "Patient/p1"},
        "created": "2024-02-29",
        "provider": {"reference": "Practitioner/dr-1"},
        "insurer": {"reference": "Organization/cns"},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "careTeam": [{"sequence": 1, "provider": {"reference": "PractitionerRole/role-2"}}],
    }
    got = by_param(extractor.extract(claim))
    assert got["identifier"] == {("http://example.lu/claims", "C-1", None)}
    assert got["use"] == {(None, "claim", None)}
    assert got["patient"] == {("Patient", "p1", None, None)}
    assert got["created"] == {parse_date_range("2024-02-29", LUX)}
    assert got["provider"] == {("Practitioner", "dr-1", None, None)}
    assert got["insurer"] == {("Organization", "cns", None, None)}
    assert got["care-team"] == {("PractitionerRole", "role-2", None, None)}
    assert got["priority"] == {("http://terminology.hl7.org/CodeSystem/processpriority", "normal", None)}


def test_bare_id_takes_single_target(extractor: IndexExtractor) -> None:
    got = by_param(extractor.extract({"resourceType": "Claim", "patient": {"reference": "p1"}}))
    assert got["patient"] == {("Patient", "p1", None, None)}


def test_broken_custom_expression_never_fails_a_write(caplog: pytest.LogCaptureFixture) -> None:
    registry = SearchParameterRegistry.load_default()
    registry.add(
        {
            "resourceType": "SearchParameter",
            "code": "broken",
            "type": "string",
            "base": ["Patient"],
            "expression": "Patient.name.noSuchFunction()",
        }
    )
    registry.add(
        {
            "resourceType": "SearchParameter",
            "code": "failing",
            "type": "string",
            "base": ["Patient"],
            "expression": "Patient.name.family.substring('x')",
        }
    )
    registry.add(
        {
            "resourceType": "SearchParameter",
            "code": "nick",
            "type": "string",
            "base": ["Patient"],
            "expression": "Patient.name.where(use = 'nickname').given",
        }
    )
    extractor = IndexExtractor(registry, LUX)
    patient = {"resourceType": "Patient", "name": [{"family": "Muller"}, {"use": "nickname", "given": ["Lili"]}]}
    with caplog.at_level(logging.ERROR):
        first = by_param(extractor.extract(patient))
        second = by_param(extractor.extract(patient))
    assert first == second
    assert "broken" not in first and "failing" not in first
    assert first["nick"] == {("lili", "Lili")}
    assert first["family"] == {("muller", "Muller")}
    assert len([r for r in caplog.records if "noSuchFunction" in r.getMessage()]) == 1
    assert len([r for r in caplog.records if "substring" in r.getMessage()]) == 1


def test_every_official_example(extractor: IndexExtractor, caplog: pytest.LogCaptureFixture) -> None:
    counts: dict[str, int] = defaultdict(int)
    with caplog.at_level(logging.WARNING):
        for path, resource in official_examples(SUPPORTED_TYPES):
            resource_type = resource["resourceType"]
            index = extractor.extract(resource)
            entries = (
                len(index.tokens) + len(index.strings) + len(index.dates) + len(index.references) + len(index.uris)
            )
            assert entries > 0, path.name
            counts[resource_type] += 1
    assert [r.getMessage() for r in caplog.records] == []
    assert counts["Patient"] >= 10
    assert set(counts) == set(SUPPORTED_TYPES)
