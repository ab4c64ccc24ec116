"""Issue 7: the access matrix on the demo data — actor × interaction × patient record, each
attempt with its expected status, over real HTTP with real signed tokens, on both stores.

The expectations are declared, not derived from the server's code: ``SEES`` is what the
rule book says each actor sees in the demo data (R12: the patient their own record, the MR
their patients' records by opt-out, others nothing without a permit; the CNS declarations
and claims only; a system client everything its scopes allow).
"""

from __future__ import annotations

import pytest
from security_kit import Tokens, bearer

MARIE, JEAN, NOAH, JOSIANE, LUC, TOM = (
    "lu-patient-marie-schmit",
    "lu-patient-jean-wagner",
    "lu-patient-noah-ferreira",
    "lu-patient-josiane-thill",
    "lu-patient-luc-reding",
    "lu-patient-tom-kremer",
)
PATIENTS = (MARIE, JEAN, NOAH, JOSIANE, LUC, TOM)
CONDITIONS = {
    MARIE: ["lu-condition-marie-schmit-g35"],
    JEAN: ["lu-condition-jean-wagner-g20"],
    NOAH: ["lu-condition-noah-ferreira-e84-0"],
    JOSIANE: ["lu-condition-josiane-thill-g30-1"],
    LUC: ["lu-condition-luc-reding-e11-9", "lu-condition-luc-reding-i50-0"],
    TOM: [],
}
RESUMES = {
    MARIE: "lu-composition-resume-marie-schmit",
    NOAH: "lu-composition-resume-noah-ferreira",
    LUC: "lu-composition-resume-luc-reding",
}

ACTORS = {
    "marie": lambda t: t.patient(MARIE),
    "tom": lambda t: t.patient(TOM),
    "ana (Noah's mother)": lambda t: t.related_person("lu-relatedperson-ana-ferreira", NOAH),
    "weber (MR of Marie, Jean)": lambda t: t.practitioner("lu-practitioner-claude-weber"),
    "hoffmann (MR of Luc)": lambda t: t.practitioner("lu-practitioner-sandra-hoffmann"),
    "muller (MR of Noah)": lambda t: t.practitioner("lu-practitioner-anne-muller"),
    "reuter (denied by Marie)": lambda t: t.practitioner("lu-practitioner-marc-reuter"),
    "cns": lambda t: t.system("cns"),
    "ehr (system/*.rs)": lambda t: t.system("ehr-system", "system/*.rs"),
}
SEES = {
    "marie": {MARIE},
    "tom": {TOM},
    "ana (Noah's mother)": {NOAH},
    "weber (MR of Marie, Jean)": {MARIE, JEAN},
    "hoffmann (MR of Luc)": {LUC},
    "muller (MR of Noah)": {NOAH},
    "reuter (denied by Marie)": set(),
    "cns": set(PATIENTS),  # for Patient, Coverage, CareTeam and Claim only
    "ehr (system/*.rs)": set(PATIENTS),
}
CNS_TYPES = {"Patient", "Coverage", "CareTeam", "Claim"}


def expected_read(actor: str, patient: str, resource_type: str) -> int:
    if actor == "cns" and resource_type not in CNS_TYPES:
        return 403
    return 200 if patient in SEES[actor] else 404


CASES = [
    (actor, patient, what)
    for actor in ACTORS
    for patient in PATIENTS
    for what in ("read Patient", "read Condition", "search Condition", "read Coverage", "history Patient", "$mr-status")
    if what != "read Condition" or CONDITIONS[patient]
] + [(actor, patient, "read résumé") for actor in ACTORS for patient in RESUMES]


def _token(tokens: Tokens, actor: str) -> str:
    return ACTORS[actor](tokens)


@pytest.mark.parametrize(("actor", "patient", "what"), CASES, ids=[f"{a}-{p[11:]}-{w}" for a, p, w in CASES])
def test_access(secured, actor: str, patient: str, what: str) -> None:
    client, tokens = secured
    headers = bearer(_token(tokens, actor))
    coverage = "lu-coverage-" + patient.removeprefix("lu-patient-")
    if what == "read Patient":
        response = client.get(f"/Patient/{patient}", headers=headers)
        assert response.status_code == expected_read(actor, patient, "Patient"), response.text
    elif what == "read Condition":
        for condition in CONDITIONS[patient]:
            response = client.get(f"/Condition/{condition}", headers=headers)
            assert response.status_code == expected_read(actor, patient, "Condition"), response.text
    elif what == "search Condition":
        response = client.get(f"/Condition?patient={patient}&_total=accurate", headers=headers)
        status = expected_read(actor, patient, "Condition")
        assert response.status_code == (403 if status == 403 else 200), response.text
        if status != 403:
            expected = len(CONDITIONS[patient]) if status == 200 else 0
            assert response.json()["total"] == expected
            assert len([e for e in response.json().get("entry", []) if e["search"]["mode"] == "match"]) == expected
    elif what == "read Coverage":
        response = client.get(f"/Coverage/{coverage}", headers=headers)
        assert response.status_code == expected_read(actor, patient, "Coverage"), response.text
    elif what == "history Patient":
        response = client.get(f"/Patient/{patient}/_history", headers=headers)
        assert response.status_code == expected_read(actor, patient, "Patient"), response.text
    elif what == "$mr-status":
        response = client.get(f"/Patient/{patient}/$mr-status", headers=headers)
        assert response.status_code == expected_read(actor, patient, "Patient"), response.text
    else:
        response = client.get(f"/Composition/{RESUMES[patient]}", headers=headers)
        assert response.status_code == expected_read(actor, patient, "Composition"), response.text
    if response.status_code >= 400:
        assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("actor", list(ACTORS))
def test_patient_search_shows_only_visible_patients(secured, actor: str) -> None:
    client, tokens = secured
    response = client.get("/Patient?_total=accurate&_count=50", headers=bearer(_token(tokens, actor)))
    assert response.status_code == 200
    ids = {e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"}
    assert ids == SEES[actor]
    assert response.json()["total"] == len(SEES[actor])


@pytest.mark.parametrize(
    ("actor", "status"),
    [
        ("marie", 200),
        ("tom", 404),
        ("weber (MR of Marie, Jean)", 403),
        ("reuter (denied by Marie)", 403),
        ("cns", 403),
        ("ehr (system/*.rs)", 200),
    ],
)
def test_consent_is_private_to_the_patient(secured, actor: str, status: int) -> None:
    """Professionals do not see what the patient hid, nor the Consent that says so."""
    client, tokens = secured
    response = client.get("/Consent/lu-consent-dsp-marie-schmit", headers=bearer(_token(tokens, actor)))
    assert response.status_code == status, response.text


@pytest.mark.parametrize("actor", list(ACTORS))
def test_directory_resources_are_open_to_every_authenticated_caller(secured, actor: str) -> None:
    client, tokens = secured
    headers = bearer(_token(tokens, actor))
    assert client.get("/Practitioner/lu-practitioner-claude-weber", headers=headers).status_code == 200
    assert client.get("/Organization?_count=5", headers=headers).status_code == 200
