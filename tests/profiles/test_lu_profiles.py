"""The Luxembourg profiles (profiles/): examples, publication, CapabilityStatement, enforcement on write."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from support import TestClient

from fhir_server.fhir.profile_enforcement import ProfileEnforcement, lu_profile_for
from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.terminology import TerminologyService

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
EXAMPLES = PROFILES / "examples"
SD = "https://fhir.mr.lu/StructureDefinition/"
FHIR_JSON = {"Content-Type": "application/fhir+json"}

LU_PROFILES = {
    "lu-patient": "Patient",
    "lu-practitioner": "Practitioner",
    "lu-practitionerrole": "PractitionerRole",
    "lu-mr-careteam": "CareTeam",
    "lu-resume-patient": "Composition",
    "lu-resume-patient-bundle": "Bundle",
    "lu-resume-prestations": "Composition",
    "lu-prestation-claim": "Claim",
    "lu-consent": "Consent",
}
EXTENSIONS = (
    "dsp-status",
    "mr-signature-date",
    "mr-validation-date",
    "mr-end-reason",
    "mr-revocation",
    "insurance-branch",
)
NAMING_SYSTEMS = {
    "urn:oid:1.3.182.4.4",
    "https://fhir.mr.lu/sid/cns-provider-code",
    "https://fhir.mr.lu/sid/cns-group-practice-code",
    "https://fhir.mr.lu/sid/mr-declaration",
    "https://fhir.mr.lu/sid/organization",
}

# Each invalid example: the location of (one of) its errors, and the rule it breaks (also in examples/README.md).
INVALID = {
    "lu-patient-invalid-matricule-length": ("Patient.identifier[0].value", "lu-mat-1"),
    "lu-patient-invalid-check-digit": ("Patient.identifier[0].value", "lu-mat-2"),
    "lu-patient-invalid-dsp-status": ("Patient.extension[0].valueCode", "dsp-status"),
    # HL7 Europe base: the country code of an Address-eu is a Coding (iso21090-codedString valueCoding)
    "lu-patient-invalid-eu-country-code": ("Patient.address[0].country.extension[0].valueString", "unknown element"),
    "lu-practitioner-invalid-no-provider-code": ("Practitioner.identifier", "cnsProviderCode"),
    # HL7 Europe base: an Address-eu line's house number (ADXP extension) is a string
    "lu-practitioner-invalid-eu-house-number": (
        "Practitioner.address[0].line[0].extension[0].valueInteger",
        "unknown element",
    ),
    "lu-practitioner-invalid-provider-code-format": ("Practitioner.identifier[0].value", "lu-prov-1"),
    "lu-practitionerrole-invalid-no-specialty": ("PractitionerRole.specialty", "minimum required"),
    "lu-mr-careteam-invalid-active-no-declaration-number": ("CareTeam", "lu-ct-1"),
    "lu-mr-careteam-invalid-no-mr": ("CareTeam.participant", "medecinReferent"),
    "lu-mr-careteam-invalid-status-suspended": ("CareTeam.status", "mr-careteam-status"),
    "lu-mr-careteam-invalid-end-reason-code": ("CareTeam.extension[1].valueCodeableConcept", "mr-end-reason"),
    "lu-resume-patient-invalid-no-allergies-section": ("Composition.section", "sectionAllergies"),
    "lu-resume-patient-invalid-author-patient": ("Composition.author[0]", "Reference(Practitioner|PractitionerRole)"),
    "lu-resume-patient-bundle-invalid-no-patient": ("Bundle.entry", "slice 'patient'"),
    "lu-resume-patient-bundle-invalid-bad-matricule": ("Bundle.entry[1].resource.identifier[0].value", "lu-mat-2"),
    # IPS-inherited: MedicationStatement-uv-ips effective[x] 1..1 (through the IPS Bundle's entry slice)
    "lu-resume-patient-bundle-invalid-medication-no-effective": ("Bundle.entry[8].resource.effective", "minimum"),
    # IPS-inherited: ips-comp-1, a section has entries or an empty reason
    "lu-resume-patient-invalid-medications-narrative-only": ("Composition.section[2]", "ips-comp-1"),
    "lu-resume-prestations-invalid-no-period": ("Composition.event", "minimum required"),
    "lu-resume-prestations-invalid-section-code": ("Composition.section[0].code", "insurance-branch"),
    "lu-prestation-claim-invalid-no-insurance-branch": ("Claim.extension", "minimum required"),
    "lu-prestation-claim-invalid-unknown-code": ("Claim.item[0].productOrService", "cns-nomenclature"),
    "lu-prestation-claim-invalid-branch-code": ("Claim.extension[0].valueCode", "insurance-branch"),
    "lu-consent-invalid-deny-nothing": ("Consent", "lu-cons-2"),
    "lu-consent-invalid-base-deny": ("Consent", "lu-cons-0"),
    "lu-consent-invalid-no-policy": ("Consent.policy", "minimum required"),
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def errors(issues: list) -> list:
    return [i for i in issues if i.severity in ("error", "fatal")]


@pytest.fixture(scope="module")
def enforcement() -> ProfileEnforcement:
    return ProfileEnforcement(ProfileValidator.load(PROFILES, TerminologyService.load()))


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json"))


def test_every_profile_has_valid_and_invalid_examples() -> None:
    names = [p.stem for p in example_files()]
    for profile in LU_PROFILES:
        valid = [n for n in names if n.startswith(profile + "-valid-")]
        invalid = [n for n in names if n.startswith(profile + "-invalid-")]
        assert valid and invalid, profile
    assert {n for n in names if "-invalid-" in n} == set(INVALID)
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{n}.json`" in readme for n in names)


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
def test_example(path: Path, enforcement: ProfileEnforcement) -> None:
    resource = load(path)
    profile = path.stem.split("-valid-")[0].split("-invalid-")[0]
    assert resource["meta"]["profile"] == [SD + profile] or lu_profile_for(resource) == SD + profile
    assert enforcement.profiles_for(resource)[0] == SD + profile
    found = errors(enforcement.issues(resource))
    if path.stem in INVALID:
        where, rule = INVALID[path.stem]
        assert any(where in i.expression and rule in i.diagnostics for i in found), found
    else:
        assert not found, found


def test_every_profile_and_extension_is_shipped(enforcement: ProfileEnforcement) -> None:
    for name, rtype in LU_PROFILES.items():
        sd = load(PROFILES / "structure-definitions" / f"StructureDefinition-{name}.json")
        assert sd["url"] == SD + name and sd["type"] == rtype and sd["snapshot"]["element"]
        assert enforcement.validator.knows(SD + name)
    for name in EXTENSIONS:
        sd = load(PROFILES / "structure-definitions" / f"StructureDefinition-{name}.json")
        assert sd["type"] == "Extension" and sd["url"] == SD + name
    systems = set()
    for path in (PROFILES / "naming-systems").glob("*.json"):
        systems |= {u["value"] for u in load(path)["uniqueId"] if u["type"] == "uri"}
    assert systems == NAMING_SYSTEMS


def test_the_fsh_sources_are_the_compiled_profiles() -> None:
    """Each shipped StructureDefinition comes from a FSH definition (profiles/build.sh)."""
    fsh = "\n".join(p.read_text(encoding="utf-8") for p in (PROFILES / "fsh").glob("*.fsh"))
    for path in (PROFILES / "structure-definitions").glob("*.json"):
        assert f"Id: {load(path)['id']}\n" in fsh, path.name


def test_third_party_resources_are_not_forced_into_lu_profiles(enforcement: ProfileEnforcement) -> None:
    assert lu_profile_for({"resourceType": "Patient", "name": [{"family": "X"}]}) is None
    assert lu_profile_for({"resourceType": "CareTeam", "status": "active"}) is None
    assert lu_profile_for({"resourceType": "Claim", "item": [{"productOrService": {"text": "x"}}]}) is None
    assert lu_profile_for({"resourceType": "Consent", "policyRule": {"text": "x"}}) is None
    assert enforcement.issues({"resourceType": "Patient", "identifier": [{"value": "x"}]}) == []


# -- over HTTP -----------------------------------------------------------------------------------


def test_profiles_are_published(client: TestClient) -> None:
    r = client.get("/StructureDefinition/lu-patient")
    assert r.status_code == 200
    assert r.json()["url"] == SD + "lu-patient"
    r = client.get("/StructureDefinition", params={"url": SD + "lu-mr-careteam"})
    assert [e["resource"]["id"] for e in r.json()["entry"]] == ["lu-mr-careteam"]
    r = client.get("/NamingSystem", params={"value": "urn:oid:1.3.182.4.4"})
    assert r.status_code == 200
    assert [e["resource"]["id"] for e in r.json().get("entry", [])] == ["lu-matricule"]
    r = client.get("/CodeSystem", params={"url": "https://fhir.mr.lu/CodeSystem/careteam-role"})
    assert len(r.json()["entry"]) == 1


def test_capability_statement_lists_supported_profiles(client: TestClient) -> None:
    statement = client.get("/metadata").json()
    by_type = {r["type"]: r.get("supportedProfile", []) for r in statement["rest"][0]["resource"]}
    for name, rtype in LU_PROFILES.items():
        assert SD + name in by_type[rtype]
    assert not any(url.startswith(SD) for url in by_type["Organization"])


def example(name: str) -> dict[str, Any]:
    return load(EXAMPLES / f"{name}.json")


def test_invalid_mr_careteam_is_refused_and_not_stored(client: TestClient) -> None:
    team = example("lu-mr-careteam-invalid-active-no-declaration-number")
    team.pop("meta")  # not claimed: an MR CareTeam is validated all the same
    r = client.put(f"/CareTeam/{team['id']}", json=team, headers=FHIR_JSON)
    assert r.status_code == 422, r.text
    outcome = r.json()
    assert any("lu-ct-1" in i["diagnostics"] for i in outcome["issue"] if i["severity"] == "error")
    assert client.get(f"/CareTeam/{team['id']}").status_code == 404
    r = client.post("/CareTeam", json=team, headers=FHIR_JSON)
    assert r.status_code == 422
    assert client.get("/CareTeam", params={"category": "medecin-referent"}).json().get("total", 0) == 0


def test_valid_mr_careteam_is_accepted(client: TestClient) -> None:
    team = example("lu-mr-careteam-valid-proposed-josiane-thill")
    team.pop("meta")
    # references need not resolve for a write
    r = client.put(f"/CareTeam/{team['id']}", json=team, headers=FHIR_JSON)
    assert r.status_code == 201, r.text


def test_bad_matricule_check_digit_is_refused(client: TestClient) -> None:
    patient = example("lu-patient-invalid-check-digit")
    r = client.post("/Patient", json=patient, headers=FHIR_JSON)
    assert r.status_code == 422, r.text
    errors_ = [i for i in r.json()["issue"] if i["severity"] == "error"]
    assert errors_[0]["expression"] == ["Patient.identifier[0].value"]
    assert "lu-mat-2" in errors_[0]["diagnostics"]
    assert client.get("/Patient", params={"identifier": "urn:oid:1.3.182.4.4|1893120105733"}).json()["total"] == 0


def test_valid_lu_patient_is_accepted(client: TestClient) -> None:
    r = client.post("/Patient", json=example("lu-patient-valid-marie-schmit"), headers=FHIR_JSON)
    assert r.status_code == 201, r.text


def test_third_party_patient_without_the_claim_is_accepted(client: TestClient) -> None:
    patient = example("lu-patient-invalid-check-digit")
    patient.pop("meta")
    patient.pop("extension")
    r = client.post("/Patient", json=patient, headers=FHIR_JSON)
    assert r.status_code == 201, r.text


def test_invalid_entry_of_a_transaction_rolls_back_everything(client: TestClient) -> None:
    good = example("lu-patient-valid-marie-schmit")
    bad = example("lu-prestation-claim-invalid-no-insurance-branch")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": good, "request": {"method": "PUT", "url": f"Patient/{good['id']}"}},
            {"resource": bad, "request": {"method": "PUT", "url": f"Claim/{bad['id']}"}},
        ],
    }
    r = client.post("/", json=bundle, headers=FHIR_JSON)
    assert r.status_code == 422, r.text
    assert client.get(f"/Patient/{good['id']}").status_code == 404


def test_document_bundle_is_validated_on_write(client: TestClient) -> None:
    r = client.post("/Bundle", json=example("lu-resume-patient-bundle-valid-luc-reding"), headers=FHIR_JSON)
    assert r.status_code == 201, r.text
    bad = example("lu-resume-patient-bundle-invalid-bad-matricule")
    bad.pop("meta")
    r = client.post("/Bundle", json=bad, headers=FHIR_JSON)
    assert r.status_code == 422


def test_validate_operation_uses_the_lu_profiles(client: TestClient) -> None:
    team = copy.deepcopy(example("lu-mr-careteam-invalid-no-mr"))
    r = client.post("/CareTeam/$validate", json=team, headers=FHIR_JSON)
    assert r.status_code == 200
    assert any(i["severity"] == "error" and i["expression"] == ["CareTeam.participant"] for i in r.json()["issue"])
