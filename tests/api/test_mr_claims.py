"""Claims under the rule book: $submit adjudicates R11 and R10, $prestations-summary builds
the R9 document, $mr-candidates lists a doctor's ALD patients without an MR."""

from __future__ import annotations

import pytest
from test_mr_lifecycle import declaration, doctor, patient, validate

LU = "https://fhir.mr.lu"
NOMENCLATURE = f"{LU}/CodeSystem/cns-nomenclature"


def claim(patient_ref: str, provider: str, *items: tuple[str, str], branch: str = "sickness-maternity") -> dict:
    return {
        "resourceType": "Claim",
        "meta": {"profile": [f"{LU}/StructureDefinition/lu-prestation-claim"]},
        "extension": [{"url": f"{LU}/StructureDefinition/insurance-branch", "valueCode": branch}],
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": patient_ref},
        "created": items[0][1],
        "insurer": {"display": "CNS"},
        "provider": {"reference": provider},
        "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-p"}}],
        "item": [
            {
                "sequence": i + 1,
                "productOrService": {"coding": [{"system": NOMENCLATURE, "code": code}]},
                "servicedDate": day,
            }
            for i, (code, day) in enumerate(items)
        ],
    }


def submit(client, body: dict) -> dict:
    r = client.post("/Claim/$submit", json=body)
    assert r.status_code == 200, r.text
    response = r.json()
    assert response["resourceType"] == "ClaimResponse"
    return response


@pytest.fixture
def mr(client):
    """Patient p, GP dr (the MR since 1 Dec 2024), another GP dr2."""
    patient_ref = patient(client, "p")
    declaration(client, "ct", patient_ref, doctor(client, "dr"))
    assert validate(client, "ct", "2024-11-10").status_code == 200
    doctor(client, "dr2", provider_code="60334127")
    return client


def test_consultation_limits_r11(mr):
    first = submit(mr, claim("Patient/p", "Practitioner/dr", ("C1", "2025-01-15")))
    assert first["outcome"] == "complete" and "error" not in first
    same_day = submit(mr, claim("Patient/p", "Practitioner/dr", ("C1", "2025-01-15")))
    assert same_day["outcome"] == "error"
    assert same_day["error"][0]["code"]["coding"][0]["code"] == "R11"
    assert submit(mr, claim("Patient/p", "Practitioner/dr", ("C1", "2025-01-16")))["outcome"] == "complete"
    third_in_week = submit(mr, claim("Patient/p", "Practitioner/dr2", ("C1", "2025-01-18")))  # same discipline
    assert third_in_week["outcome"] == "error" and third_in_week["error"][0]["code"]["text"].startswith("R11")
    assert submit(mr, claim("Patient/p", "Practitioner/dr", ("C1", "2025-01-23")))["outcome"] == "complete"
    # stored: every claim and its response
    assert mr.get("/Claim?patient=Patient/p").json()["total"] == 5
    assert mr.get("/ClaimResponse?patient=Patient/p").json()["total"] == 5


def test_mr03_r10(mr):
    early = submit(mr, claim("Patient/p", "Practitioner/dr", ("MR03", "2025-05-31")))  # < 6 months after 1 Dec
    assert early["outcome"] == "error" and early["error"][0]["code"]["coding"][0]["code"] == "R10"
    assert submit(mr, claim("Patient/p", "Practitioner/dr", ("MR03", "2025-06-01")))["outcome"] == "complete"
    again = submit(mr, claim("Patient/p", "Practitioner/dr", ("MR03", "2025-11-30")))  # < 6 months after the last
    assert again["outcome"] == "error"
    not_the_mr = submit(mr, claim("Patient/p", "Practitioner/dr2", ("MR03", "2025-12-01")))
    assert not_the_mr["outcome"] == "error" and not_the_mr["error"][0]["code"]["text"].startswith("R10")
    partial = submit(mr, claim("Patient/p", "Practitioner/dr", ("C1", "2025-12-01"), ("MR03", "2025-12-01")))
    assert partial["outcome"] == "complete"


def test_submit_needs_a_claim(mr):
    assert mr.post("/Claim/$submit", json={"resourceType": "Patient"}).status_code == 400
    assert mr.get("/Claim/$submit").status_code == 405


def test_prestations_summary_r9(mr):
    submit(mr, claim("Patient/p", "Practitioner/dr", ("C1", "2024-06-03")))  # covered by the first summary
    submit(mr, claim("Patient/p", "Practitioner/dr", ("C1", "2025-03-10"), branch="accident"))  # first anniversary
    r = mr.get("/Patient/p/$prestations-summary?date=2024-12-15")
    assert r.status_code == 200, r.text
    document = r.json()
    assert document["type"] == "document"
    composition = document["entry"][0]["resource"]
    assert composition["event"][0]["period"] == {"start": "2021-12-01", "end": "2024-11-30"}  # three previous years
    sections = {s["code"]["coding"][0]["code"]: s for s in composition["section"]}
    assert len(sections["sickness-maternity"]["entry"]) == 1 and "entry" not in sections["accident"]
    later = mr.get("/Patient/p/$prestations-summary?date=2025-12-01").json()["entry"][0]["resource"]
    assert later["event"][0]["period"] == {"start": "2024-12-01", "end": "2025-11-30"}
    assert len({s["code"]["coding"][0]["code"]: s for s in later["section"]}["accident"]["entry"]) == 1
    assert mr.get("/Patient/p/$prestations-summary?date=2024-11-15").status_code == 422  # before the effective date


def test_mr_candidates(client):
    doctor(client, "gp")
    for pid, visits in (("three", 3), ("two", 2)):
        patient(client, pid)
        for day in ("2025-02-03", "2025-05-05", "2025-09-09")[:visits]:
            body = claim(f"Patient/{pid}", "Practitioner/gp", ("C1", day))
            body["insurance"] = [{"sequence": 1, "focal": True, "coverage": {"reference": f"Coverage/cov-{pid}"}}]
            submit(client, body)
    found = client.get("/Practitioner/gp/$mr-candidates?date=2025-10-01").json()
    candidates = [p for p in found["parameter"] if p["name"] == "candidate"]
    assert [c["part"][0]["valueReference"] for c in candidates] == [{"reference": "Patient/three"}]
    assert candidates[0]["part"][1] == {"name": "contacts", "valueInteger": 3}
    later = client.get("/Practitioner/gp/$mr-candidates?date=2026-02-04").json()  # the first visit is out of the window
    assert [p for p in later["parameter"] if p["name"] == "candidate"] == []
