"""A validator with a small test profile (differential only) beside the base R4 definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from profile_names import MATRICULE, TEST_EXT, TEST_PATIENT

from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.terminology import TerminologyService

PROFILES = [
    {
        "resourceType": "StructureDefinition",
        "url": TEST_EXT,
        "name": "TestDsp",
        "status": "draft",
        "kind": "complex-type",
        "abstract": False,
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Extension", "path": "Extension", "max": "1"},
                {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": TEST_EXT},
                {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1, "type": [{"code": "boolean"}]},
            ]
        },
    },
    {
        "resourceType": "StructureDefinition",
        "url": TEST_PATIENT,
        "name": "TestPatient",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {
            "element": [
                {
                    "id": "Patient",
                    "path": "Patient",
                    "constraint": [
                        {
                            "key": "tst-1",
                            "severity": "error",
                            "human": "A test patient needs a birth date or a name",
                            "expression": "birthDate.exists() or name.exists()",
                        }
                    ],
                },
                {
                    "id": "Patient.extension",
                    "path": "Patient.extension",
                    "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"},
                },
                {
                    "id": "Patient.extension:dsp",
                    "path": "Patient.extension",
                    "sliceName": "dsp",
                    "min": 0,
                    "max": "1",
                    "type": [{"code": "Extension", "profile": [TEST_EXT]}],
                },
                {
                    "id": "Patient.identifier",
                    "path": "Patient.identifier",
                    "min": 1,
                    "slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "closed"},
                },
                {
                    "id": "Patient.identifier:matricule",
                    "path": "Patient.identifier",
                    "sliceName": "matricule",
                    "min": 1,
                    "max": "1",
                },
                {
                    "id": "Patient.identifier:matricule.system",
                    "path": "Patient.identifier.system",
                    "min": 1,
                    "fixedUri": MATRICULE,
                },
                {
                    "id": "Patient.identifier:matricule.value",
                    "path": "Patient.identifier.value",
                    "min": 1,
                    "constraint": [
                        {
                            "key": "tst-2",
                            "severity": "error",
                            "human": "13 digits",
                            "expression": "matches('^[0-9]{13}$')",
                        }
                    ],
                },
                {"id": "Patient.identifier:other", "path": "Patient.identifier", "sliceName": "other", "max": "1"},
                {
                    "id": "Patient.identifier:other.system",
                    "path": "Patient.identifier.system",
                    "min": 1,
                    "fixedUri": "https://example.org/other",
                },
                {"id": "Patient.gender", "path": "Patient.gender", "min": 1},
                {
                    "id": "Patient.maritalStatus",
                    "path": "Patient.maritalStatus",
                    "patternCodeableConcept": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]
                    },
                },
                {"id": "Patient.deceased[x]", "path": "Patient.deceased[x]", "max": "0"},
                {"id": "Patient.multipleBirth[x]", "path": "Patient.multipleBirth[x]", "type": [{"code": "boolean"}]},
                {"id": "Patient.active", "path": "Patient.active", "fixedBoolean": True},
            ]
        },
    },
]


@pytest.fixture(scope="session")
def profiles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("profiles")
    for sd in PROFILES:
        (folder / f"StructureDefinition-{sd['name']}.json").write_text(json.dumps(sd), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def validator(profiles_dir: Path) -> ProfileValidator:
    return ProfileValidator.load(profiles_dir, TerminologyService.load())
