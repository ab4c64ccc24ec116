"""Checks of the demo transaction Bundle fhir_server/demo/luxembourg-demo.json."""

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

import fhir_server
from fhir_server.mr.matricule import MATRICULE_SYSTEM, is_valid_matricule

DEMO_PATH = Path(fhir_server.__file__).parent / "demo" / "luxembourg-demo.json"
MR_CATEGORY = ("https://fhir.mr.lu/CodeSystem/careteam-category", "medecin-referent")
MR_ROLE = ("https://fhir.mr.lu/CodeSystem/careteam-role", "medecin-referent")
DECLARATION_SYSTEM = "https://fhir.mr.lu/sid/mr-declaration"
SNOMED = "http://snomed.info/sct"
GP_OR_PAEDIATRICS = {"394814009", "394537008"}

with DEMO_PATH.open(encoding="utf-8") as _fh:
    BUNDLE = json.load(_fh)
ENTRIES = BUNDLE["entry"]
RESOURCES = [e["resource"] for e in ENTRIES]
BY_KEY = {f"{r['resourceType']}/{r['id']}": r for r in RESOURCES}


def of_type(resource_type):
    return [r for r in RESOURCES if r["resourceType"] == resource_type]


def codings(concepts):
    if isinstance(concepts, dict):
        concepts = [concepts]
    return {(c.get("system"), c.get("code")) for cc in concepts or [] for c in cc.get("coding", [])}


def references(node, path="$"):
    """Yield (path, reference string) for every Reference.reference in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield path, value
            else:
                yield from references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from references(item, f"{path}[{i}]")


def entry_id(entry):
    r = entry["resource"]
    return f"{r['resourceType']}/{r.get('id')}"


def test_bundle_is_a_transaction():
    assert BUNDLE["resourceType"] == "Bundle"
    assert BUNDLE["type"] == "transaction"
    assert ENTRIES
    get_fhir_model_class("Bundle").model_validate(BUNDLE)


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_entry_parses_with_r4b_model(entry):
    resource = entry["resource"]
    model = get_fhir_model_class(resource["resourceType"])
    parsed = model.model_validate(resource)
    assert parsed.id == resource["id"]


@pytest.mark.parametrize("entry", ENTRIES, ids=entry_id)
def test_entry_is_an_idempotent_put(entry):
    resource = entry["resource"]
    assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    assert resource["id"].startswith("lu-")


def test_ids_are_unique():
    duplicates = [k for k, n in Counter(entry_id(e) for e in ENTRIES).items() if n > 1]
    assert not duplicates


def test_every_reference_resolves_inside_the_bundle():
    """Or, for a local reference (``#id``: the résumés' medication statements), to a contained resource."""

    def resolves(resource, ref):
        if ref.startswith("#"):
            return any(c.get("id") == ref[1:] for c in resource.get("contained", ()))
        return ref in BY_KEY

    dangling = [
        (entry_id(e), path, ref)
        for e in ENTRIES
        for path, ref in references(e["resource"])
        if not resolves(e["resource"], ref)
    ]
    assert not dangling


def test_expected_content_is_present():
    counts = Counter(r["resourceType"] for r in RESOURCES)
    assert counts["Organization"] >= 3
    assert counts["Practitioner"] == 4
    assert counts["PractitionerRole"] == 4
    assert counts["Patient"] == 6
    assert counts["RelatedPerson"] >= 1
    assert counts["Coverage"] == counts["Patient"]
    assert 2 <= counts["Composition"] <= 3
    assert counts["Consent"] == 1
    assert counts["Claim"] == 2


@pytest.mark.parametrize("patient", of_type("Patient"), ids=lambda p: p["id"])
def test_patient_matricule_is_valid(patient):
    matricules = [i["value"] for i in patient.get("identifier", []) if i.get("system") == MATRICULE_SYSTEM]
    assert len(matricules) == 1
    value = matricules[0]
    assert is_valid_matricule(value), value
    assert value[:8] == patient["birthDate"].replace("-", "")


def test_every_matricule_identifier_is_valid():
    for resource in RESOURCES:
        for ident in resource.get("identifier", []):
            if ident.get("system") == MATRICULE_SYSTEM:
                assert is_valid_matricule(ident["value"]), (resource["id"], ident["value"])


def test_there_is_a_minor_and_an_elderly_patient():
    years = [date.fromisoformat(p["birthDate"]).year for p in of_type("Patient")]
    assert 2016 in years
    assert min(years) < 1945


def test_every_patient_has_an_active_cns_coverage():
    covered = {
        c["beneficiary"]["reference"]
        for c in of_type("Coverage")
        if c["status"] == "active" and [p["reference"] for p in c["payor"]] == ["Organization/lu-organization-cns"]
    }
    assert covered == {f"Patient/{p['id']}" for p in of_type("Patient")}


MR_TEAMS = [ct for ct in of_type("CareTeam") if MR_CATEGORY in codings(ct.get("category"))]


def mr_participant(careteam):
    members = [p["member"]["reference"] for p in careteam["participant"] if MR_ROLE in codings(p.get("role"))]
    assert len(members) == 1
    return BY_KEY[members[0]]


def test_careteam_lifecycle_states_are_all_represented():
    assert {"active", "proposed", "inactive"} <= {ct["status"] for ct in MR_TEAMS}


@pytest.mark.parametrize("careteam", MR_TEAMS, ids=lambda ct: ct["id"])
def test_mr_careteam_shape(careteam):
    patient_ref = careteam["subject"]["reference"]
    members = {p["member"]["reference"] for p in careteam["participant"]}
    assert patient_ref in members
    status = careteam["status"]
    if status == "proposed":
        assert "identifier" not in careteam
        assert "period" not in careteam
    else:
        assert [i["system"] for i in careteam["identifier"]] == [DECLARATION_SYSTEM]
        start = date.fromisoformat(careteam["period"]["start"])
        assert start.day == 1  # R4: first day of a month
        if status == "inactive":
            assert date.fromisoformat(careteam["period"]["end"]) >= start
        else:
            assert "end" not in careteam["period"]


@pytest.mark.parametrize("careteam", MR_TEAMS, ids=lambda ct: ct["id"])
def test_mr_is_a_gp_or_paediatrician(careteam):
    role = mr_participant(careteam)
    assert role["resourceType"] == "PractitionerRole"
    assert codings(role["specialty"]) & {(SNOMED, code) for code in GP_OR_PAEDIATRICS}


def test_at_most_one_active_mr_per_patient():
    active = Counter(ct["subject"]["reference"] for ct in MR_TEAMS if ct["status"] == "active")
    assert max(active.values()) == 1


def test_general_practitioner_matches_the_active_mr():
    for patient in of_type("Patient"):
        key = f"Patient/{patient['id']}"
        active = [ct for ct in MR_TEAMS if ct["status"] == "active" and ct["subject"]["reference"] == key]
        expected = [mr_participant(ct)["practitioner"]["reference"] for ct in active]
        assert [g["reference"] for g in patient.get("generalPractitioner", [])] == expected


def test_the_minors_careteam_includes_a_related_person():
    minors = [p for p in of_type("Patient") if date.fromisoformat(p["birthDate"]) > date(2007, 12, 31)]
    assert minors
    for minor in minors:
        key = f"Patient/{minor['id']}"
        teams = [ct for ct in MR_TEAMS if ct["subject"]["reference"] == key]
        assert teams
        for ct in teams:
            related = [
                BY_KEY[p["member"]["reference"]]
                for p in ct["participant"]
                if p["member"]["reference"].startswith("RelatedPerson/")
            ]
            assert related
            assert all(r["patient"]["reference"] == key for r in related)


@pytest.mark.parametrize("composition", of_type("Composition"), ids=lambda c: c["id"])
def test_resume_patient_sections(composition):
    assert composition["status"] == "final"
    assert ("http://loinc.org", "60591-5") in codings(composition["type"])
    codes = {next(iter(codings(s["code"])))[1] for s in composition["section"]}
    assert {"11450-4", "48765-2", "10160-0"} <= codes
    for section in composition["section"]:
        assert section["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    problems = next(s for s in composition["section"] if ("http://loinc.org", "11450-4") in codings(s["code"]))
    for entry in problems["entry"]:
        condition = BY_KEY[entry["reference"]]
        assert condition["resourceType"] == "Condition"
        assert condition["subject"] == {"reference": composition["subject"]["reference"]}


def test_consent_denies_the_cardiologist():
    (consent,) = of_type("Consent")
    assert consent["provision"]["type"] == "permit"
    denied = [
        actor["reference"]["reference"]
        for nested in consent["provision"]["provision"]
        if nested["type"] == "deny"
        for actor in nested["actor"]
    ]
    assert len(denied) == 1
    cardiologist = BY_KEY[denied[0]]
    roles = [r for r in of_type("PractitionerRole") if r["practitioner"]["reference"] == denied[0]]
    assert cardiologist["resourceType"] == "Practitioner"
    assert any((SNOMED, "394579002") in codings(r["specialty"]) for r in roles)


@pytest.mark.parametrize("condition", of_type("Condition"), ids=lambda c: c["id"])
def test_conditions_are_icd10_coded_active_and_confirmed(condition):
    assert any(system == "http://hl7.org/fhir/sid/icd-10" for system, _ in codings(condition["code"]))
    assert ("http://terminology.hl7.org/CodeSystem/condition-clinical", "active") in codings(
        condition["clinicalStatus"]
    )
    assert ("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed") in codings(
        condition["verificationStatus"]
    )


# -- the Luxembourg profiles (profiles/, issue 5) ---------------------------------------------------

LU_PROFILE_OF_TYPE = {
    "Patient": "lu-patient",
    "Practitioner": "lu-practitioner",
    "PractitionerRole": "lu-practitionerrole",
    "CareTeam": "lu-mr-careteam",
    "Composition": "lu-resume-patient",
    "Claim": "lu-prestation-claim",
    "Consent": "lu-consent",
}
LU_SD = "https://fhir.mr.lu/StructureDefinition/"


@pytest.fixture(scope="module")
def enforcement():
    from fhir_server.fhir.profile_enforcement import ProfileEnforcement
    from fhir_server.fhir.profiles import ProfileValidator
    from fhir_server.terminology import TerminologyService

    profiles = Path(fhir_server.__file__).resolve().parents[1] / "profiles"
    return ProfileEnforcement(ProfileValidator.load(profiles, TerminologyService.load()))


@pytest.mark.parametrize(
    "resource", [r for r in RESOURCES if r["resourceType"] in LU_PROFILE_OF_TYPE], ids=lambda r: r["id"]
)
def test_resource_claims_and_conforms_to_its_lu_profile(resource, enforcement):
    profile = LU_SD + LU_PROFILE_OF_TYPE[resource["resourceType"]]
    assert resource["meta"]["profile"] == [profile]
    errors = [i for i in enforcement.issues(resource) if i.severity in ("error", "fatal")]
    assert not errors, errors
    assert not [i for i in enforcement.validator.validate(resource, profile) if i.severity in ("error", "fatal")]


def test_no_demo_resource_is_refused_on_write(enforcement):
    for resource in RESOURCES:
        enforcement.check(resource)


def test_mr_dates_are_extensions():
    for careteam in MR_TEAMS:
        urls = {e["url"] for e in careteam.get("extension", [])}
        assert LU_SD + "mr-signature-date" in urls
        if careteam["status"] != "proposed":
            assert careteam["status"] == "inactive" or LU_SD + "mr-validation-date" in urls
        if careteam["status"] == "inactive":
            assert {LU_SD + "mr-end-reason", LU_SD + "mr-revocation"} <= urls


def test_patients_have_a_dsp_status():
    for patient in of_type("Patient"):
        codes = [e["valueCode"] for e in patient["extension"] if e["url"] == LU_SD + "dsp-status"]
        assert len(codes) == 1
        has_mr = any(ct["subject"]["reference"] == f"Patient/{patient['id']}" for ct in MR_TEAMS)
        assert codes[0] == "activated" or not has_mr
