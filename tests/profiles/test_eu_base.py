"""HL7 Europe base (profiles/eu-base/): vendored, loaded as a dependency, used by the LU profiles."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from support import TestClient

from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.fhir.profiles.definitions import Definitions
from fhir_server.terminology import TerminologyService

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
EU_BASE = PROFILES / "eu-base"
EXAMPLES = PROFILES / "examples"
EU = "http://hl7.eu/fhir/base/StructureDefinition/"
IPS = "http://hl7.org/fhir/uv/ips/StructureDefinition/"
LU = "https://fhir.mr.lu/StructureDefinition/"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
ADXP = "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-"
CODED_STRING = "http://hl7.org/fhir/StructureDefinition/iso21090-codedString"
SHIPPED = (
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


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def example(name: str) -> dict[str, Any]:
    return load(EXAMPLES / f"{name}.json")


def errors(issues: list) -> list[str]:
    return [i.diagnostics for i in issues if i.severity in ("error", "fatal")]


@pytest.fixture(scope="module")
def validator() -> ProfileValidator:
    return ProfileValidator.load(PROFILES, TerminologyService.load())


def test_eu_base_is_vendored_with_its_licence_and_source() -> None:
    package = load(EU_BASE / "package.json")
    assert (package["name"], package["version"], package["license"]) == ("hl7.fhir.eu.base", "2.0.0", "CC0-1.0")
    assert package["source"]["repository"] == "https://github.com/hl7-eu/base"
    assert len(package["source"]["commit"]) == 40
    assert "CC0" in (EU_BASE / "LICENSE.md").read_text(encoding="utf-8")
    names = sorted(p.name for p in EU_BASE.glob("StructureDefinition-*.json"))
    assert names == sorted(f"StructureDefinition-{i}.json" for i in SHIPPED)
    for i in SHIPPED:
        sd = load(EU_BASE / f"StructureDefinition-{i}.json")
        assert sd["url"] == EU + i and sd["version"] == "2.0.0" and sd["snapshot"]["element"]
    # the profiles whose FSH needs an unobtainable dependency are not shipped
    assert "composition-eu-core" in package["source"]["notShipped"]


def test_eu_base_is_a_dependency_not_an_own_profile() -> None:
    definitions = Definitions.load(PROFILES)
    for i in SHIPPED:
        assert definitions.by_url(EU + i) is not None
    assert not [u for u in definitions.profiles if u.startswith(EU)]


def test_eu_profiles_are_not_published(client: TestClient) -> None:
    r = client.get("/StructureDefinition", params={"url": EU + "patient-eu"})
    assert r.status_code == 200 and r.json().get("total", 0) == 0
    assert client.get("/StructureDefinition/lu-patient").status_code == 200


def test_lu_profiles_keep_their_ips_parent_and_take_eu_addresses() -> None:
    sds = {
        n: load(PROFILES / "structure-definitions" / f"StructureDefinition-{n}.json")
        for n in ("lu-patient", "lu-practitioner")
    }
    assert sds["lu-patient"]["baseDefinition"] == IPS + "Patient-uv-ips"
    assert sds["lu-practitioner"]["baseDefinition"] == IPS + "Practitioner-uv-ips"
    address = [{"code": "Address", "profile": [EU + "Address-eu"]}]
    snapshot = {e["id"]: e for e in sds["lu-patient"]["snapshot"]["element"]}
    assert snapshot["Patient.address"]["type"] == address
    assert snapshot["Patient.contact.address"]["type"] == address
    assert snapshot["Patient.extension:birthPlace.value[x]"]["type"] == address
    snapshot = {e["id"]: e for e in sds["lu-practitioner"]["snapshot"]["element"]}
    assert snapshot["Practitioner.address"]["type"] == address


@pytest.mark.parametrize(
    ("name", "eu_profiles"),
    [
        ("lu-patient-valid-marie-schmit", ("patient-eu", "patient-eu-core")),
        ("lu-patient-valid-eu-address-luc-reding", ("patient-eu", "patient-eu-core")),
        ("lu-practitioner-valid-claude-weber", ("practitioner-eu", "practitioner-eu-core")),
        ("lu-practitionerrole-valid-claude-weber", ("practitionerRole-eu", "practitionerRole-eu-core")),
    ],
)
def test_valid_lu_examples_conform_to_eu_base(
    name: str, eu_profiles: tuple[str, ...], validator: ProfileValidator
) -> None:
    resource = example(name)
    assert errors(validator.validate(resource)) == []
    for profile in eu_profiles:
        assert errors(validator.validate(resource, EU + profile)) == [], profile


# -- an EU-base constraint enforced on an LU Patient ---------------------------------------------


def test_lu_patient_with_an_eu_address_is_valid(validator: ProfileValidator) -> None:
    patient = example("lu-patient-valid-eu-address-luc-reding")
    address = patient["address"][0]
    assert [e["url"] for e in address["_line"][0]["extension"]] == [ADXP + "houseNumber", ADXP + "streetName"]
    assert address["_country"]["extension"][0]["valueCoding"]["code"] == "LU"
    assert errors(validator.validate(patient, LU + "lu-patient")) == []


def with_country_code(patient: dict[str, Any], code: dict[str, Any]) -> dict[str, Any]:
    patient = copy.deepcopy(patient)
    patient["address"][0]["_country"] = {"extension": [{"url": CODED_STRING, **code}]}
    return patient


def test_lu_patient_country_code_must_be_a_coding(validator: ProfileValidator) -> None:
    """Address-eu: address.country's countryCode extension (iso21090-codedString) is a Coding."""
    patient = with_country_code(example("lu-patient-valid-eu-address-luc-reding"), {"valueString": "LU"})
    found = validator.validate(patient, LU + "lu-patient")
    assert errors(found) == [
        "Patient.address[0].country.extension[0].valueString: unknown element",
        "Patient.address[0].country.extension[0].value: minimum required = 1, but only found 0",
    ]
    # HL7 Europe's constraint, not base R4's: without the LU (so EU) profile the same data is accepted
    third_party = copy.deepcopy(patient)
    third_party.pop("meta")
    assert errors(validator.validate(third_party)) == []


def test_lu_patient_eu_address_constraints(validator: ProfileValidator) -> None:
    valid = example("lu-patient-valid-eu-address-luc-reding")
    # at most one country code (countryCode 0..1)
    patient = copy.deepcopy(valid)
    patient["address"][0]["_country"]["extension"].append(patient["address"][0]["_country"]["extension"][0])
    assert errors(validator.validate(patient)) == [
        "Patient.address[0].country.extension: slice 'countryCode': maximum allowed = 1, but found 2"
    ]
    # a house number is a string (iso21090-ADXP-houseNumber)
    patient = copy.deepcopy(valid)
    patient["address"][0]["_line"][0]["extension"][0] = {"url": ADXP + "houseNumber", "valueInteger": 48}
    assert "Patient.address[0].line[0].extension[0].valueInteger: unknown element" in errors(
        validator.validate(patient)
    )
    # the birth place is an Address-eu too
    patient = copy.deepcopy(valid)
    patient["extension"][1]["valueAddress"]["_country"]["extension"][0] = {"url": CODED_STRING, "valueString": "LU"}
    assert "Patient.extension[1].valueAddress.country.extension[0].valueString: unknown element" in errors(
        validator.validate(patient)
    )
    # ... and an Address
    patient = copy.deepcopy(valid)
    patient["extension"][1] = {
        "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
        "valueString": "Esch",
    }
    assert "Patient.extension[1].valueString: unknown element" in errors(validator.validate(patient))
    # a contact's address as well
    patient = with_country_code(valid, {"valueCoding": {"system": "urn:iso:std:iso:3166", "code": "LU"}})
    patient["contact"] = [
        {"name": {"family": "Reding"}, "address": with_country_code(valid, {"valueString": "LU"})["address"][0]}
    ]
    assert "Patient.contact[0].address.country.extension[0].valueString: unknown element" in errors(
        validator.validate(patient)
    )


def test_lu_patient_with_a_bad_eu_address_is_refused_on_write(client: TestClient) -> None:
    r = client.post("/Patient", json=example("lu-patient-invalid-eu-country-code"), headers=FHIR_JSON)
    assert r.status_code == 422, r.text
    bad = [i for i in r.json()["issue"] if i["severity"] == "error"]
    assert bad[0]["expression"] == ["Patient.address[0].country.extension[0].valueString"]
    r = client.post("/Patient", json=example("lu-patient-valid-eu-address-luc-reding"), headers=FHIR_JSON)
    assert r.status_code == 201, r.text
