"""The MR relationship over FHIR: declaration, validation by the CNS, revocation, end,
who is the MR on a day, $mr-status and the résumé patient's author rule (issue 6).
The hostile calls (each writes its care team again, and is refused) and the listing of the
operations share one app per backend (``shared_client``); the lifecycles get a store each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhir_server.mr.matricule import make_matricule

LU = "https://fhir.mr.lu"
ALD = f"{LU}/CodeSystem/ald"
MR_CATEGORY = {"coding": [{"system": f"{LU}/CodeSystem/careteam-category", "code": "medecin-referent"}]}
MR_ROLE = {"coding": [{"system": f"{LU}/CodeSystem/careteam-role", "code": "medecin-referent"}]}
REP_ROLE = {"coding": [{"system": f"{LU}/CodeSystem/careteam-role", "code": "legal-representative"}]}
SNOMED = "http://snomed.info/sct"
GP, PAEDIATRICS, CARDIOLOGY = "394814009", "394537008", "394579002"


def _put(client, resource: dict) -> dict:
    r = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert r.status_code in (200, 201), r.text
    return r.json()


def doctor(client, did: str, specialty: str = GP, provider_code: str | None = "60218314") -> str:
    practitioner = {"resourceType": "Practitioner", "id": did, "name": [{"family": did}]}
    if provider_code:
        practitioner["identifier"] = [{"system": f"{LU}/sid/cns-provider-code", "value": provider_code}]
    _put(client, practitioner)
    _put(
        client,
        {
            "resourceType": "PractitionerRole",
            "id": f"role-{did}",
            "practitioner": {"reference": f"Practitioner/{did}"},
            "specialty": [{"coding": [{"system": SNOMED, "code": specialty}]}],
        },
    )
    return f"Practitioner/{did}"


def patient(
    client, pid: str, born: str = "1958-03-14", *, ald: str | None = "25", dsp: bool = True, insured: bool = True
) -> str:
    body = {
        "resourceType": "Patient",
        "id": pid,
        "birthDate": born,
        "identifier": [
            {
                "system": "urn:oid:1.3.182.4.4",
                "value": make_matricule(__import__("datetime").date.fromisoformat(born), 12),
            }
        ],
    }
    if dsp:
        body["extension"] = [{"url": f"{LU}/StructureDefinition/dsp-status", "valueCode": "activated"}]
    _put(client, body)
    if insured:
        _put(
            client,
            {
                "resourceType": "Coverage",
                "id": f"cov-{pid}",
                "status": "active",
                "beneficiary": {"reference": f"Patient/{pid}"},
                "payor": [{"display": "CNS"}],
                "period": {"start": "2000-01-01"},
            },
        )
    if ald:
        _put(
            client,
            {
                "resourceType": "Condition",
                "id": f"ald-{pid}",
                "subject": {"reference": f"Patient/{pid}"},
                "verificationStatus": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
                    ]
                },
                "clinicalStatus": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
                },
                "code": {
                    "coding": [
                        {"system": ALD, "code": ald},
                        {"system": "http://hl7.org/fhir/sid/icd-10", "code": "G35"},
                    ]
                },
                "onsetDateTime": "2010-01-01",
            },
        )
    return f"Patient/{pid}"


def declaration(
    client, tid: str, patient_ref: str, doctor_ref: str, signed: str = "2024-11-05", representative: bool = False
) -> str:
    participants = [{"role": [MR_ROLE], "member": {"reference": doctor_ref}}]
    if representative:
        _put(client, {"resourceType": "RelatedPerson", "id": f"rep-{tid}", "patient": {"reference": patient_ref}})
        participants.append({"role": [REP_ROLE], "member": {"reference": f"RelatedPerson/rep-{tid}"}})
    team = {
        "resourceType": "CareTeam",
        "id": tid,
        "status": "proposed",
        "category": [MR_CATEGORY],
        "subject": {"reference": patient_ref},
        "participant": participants,
        "extension": [{"url": f"{LU}/StructureDefinition/mr-signature-date", "valueDate": signed}],
    }
    _put(client, team)
    return tid


def validate(client, tid: str, day: str):
    body = {"resourceType": "Parameters", "parameter": [{"name": "validationDate", "valueDate": day}]}
    return client.post(f"/CareTeam/{tid}/$validate-declaration", json=body)


def call(client, tid: str, op: str, **params: str):
    body = {"resourceType": "Parameters", "parameter": [{"name": k, "valueString": v} for k, v in params.items()]}
    return client.post(f"/CareTeam/{tid}/${op}", json=body)


@pytest.mark.parametrize(
    ("validated", "effective"),
    [
        ("2024-11-10", "2024-12-01"),
        ("2024-12-31", "2025-01-01"),
        ("2025-03-01", "2025-04-01"),
        ("2024-02-29", "2024-03-01"),
    ],
)
def test_validation_activates_with_number_and_effective_date(client, validated, effective):
    declaration(client, "ct", patient(client, "p"), doctor(client, "dr"), signed="2024-01-01")
    r = validate(client, "ct", validated)
    assert r.status_code == 200, r.text
    team = r.json()
    assert team["status"] == "active"
    assert team["period"] == {"start": effective}
    number = next(i["value"] for i in team["identifier"] if i["system"] == f"{LU}/sid/mr-declaration")
    assert number == f"MR-{validated[:4]}-0000001"
    assert {"url": f"{LU}/StructureDefinition/mr-validation-date", "valueDate": validated} in team["extension"]
    assert client.get(f"/CareTeam?declaration-number={number}").json()["total"] == 1


@pytest.mark.parametrize(
    ("setup", "rules"),
    [
        ({"ald": None}, ["R1"]),
        ({"dsp": False}, ["R1"]),
        ({"insured": False}, ["R1"]),
        ({"specialty": CARDIOLOGY}, ["R2"]),
        ({"provider_code": None}, ["R2"]),
        ({"ald": None, "specialty": CARDIOLOGY}, ["R1", "R2"]),
        ({"born": "2016-05-09"}, ["R3"]),  # a minor without a legal representative
        ({"signed": "2024-12-01"}, ["R3"]),  # signed after the validation
    ],
)
def test_refusals_name_each_failed_rule(client, setup, rules):
    patient_ref = patient(
        client,
        "p",
        setup.get("born", "1958-03-14"),
        ald=setup.get("ald", "25"),
        dsp=setup.get("dsp", True),
        insured=setup.get("insured", True),
    )
    doctor_ref = doctor(client, "dr", setup.get("specialty", GP), setup.get("provider_code", "60218314"))
    declaration(client, "ct", patient_ref, doctor_ref, signed=setup.get("signed", "2024-11-05"))
    r = validate(client, "ct", "2024-11-10")
    assert r.status_code == 422, r.text
    errors = [i for i in r.json()["issue"] if i["severity"] == "error"]
    assert sorted({i["diagnostics"].split(":")[0] for i in errors}) == rules
    assert client.get("/CareTeam/ct").json()["status"] == "proposed"  # nothing changed


def test_minor_with_representative_and_paediatrician(client):
    patient_ref = patient(client, "child", "2016-05-09", ald="18")
    declaration(client, "ct", patient_ref, doctor(client, "paed", PAEDIATRICS), representative=True)
    assert validate(client, "ct", "2024-11-10").status_code == 200


def test_only_proposed_declarations_are_validated(client):
    declaration(client, "ct", patient(client, "p"), doctor(client, "dr"))
    assert validate(client, "ct", "2024-11-10").status_code == 200
    assert validate(client, "ct", "2024-11-11").status_code == 409
    assert validate(client, "nope", "2024-11-11").status_code == 404
    bad = {"resourceType": "Parameters", "parameter": [{"name": "validationDate", "valueDate": "10/11/2024"}]}
    assert client.post("/CareTeam/ct/$validate-declaration", json=bad).status_code == 400


def test_second_mr_refused_while_first_open_then_r7_after_revocation(client):
    patient_ref = patient(client, "p")
    declaration(client, "first", patient_ref, doctor(client, "dr1"), signed="2024-03-01")
    assert validate(client, "first", "2024-03-10").json()["period"]["start"] == "2024-04-01"
    declaration(client, "second", patient_ref, doctor(client, "dr2", provider_code="60334127"), signed="2024-05-01")
    refused = validate(client, "second", "2024-05-04")
    assert refused.status_code == 422 and refused.json()["issue"][0]["diagnostics"].startswith("R3")
    # the CNS text's example: mutual revocation signed 3 May 2024 → takes effect 3 Jul, last day 2 Jul
    revoked = call(client, "first", "revoke", initiator="mutual", signatureDate="2024-05-03", receivedDate="2024-05-05")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["period"] == {"start": "2024-04-01", "end": "2024-07-02"}
    # R7: validated 10 May while the notice runs → effective the 1st after the old last day
    assert validate(client, "second", "2024-05-10").json()["period"]["start"] == "2024-08-01"
    # who was the MR on a day: care teams of the patient whose period overlaps that day
    for day, expected in (
        ("2024-06-15", ["first"]),
        ("2024-07-02", ["first"]),
        ("2024-07-15", []),
        ("2024-08-01", ["second"]),
    ):
        url = f"/CareTeam?subject={patient_ref}&status=active,inactive&date=ge{day}&date=le{day}"
        assert sorted(e["resource"]["id"] for e in client.get(url).json().get("entry", [])) == expected, day


@pytest.mark.parametrize(
    ("initiator", "signed", "status", "end"),
    [
        ("patient", "2024-05-03", 422, None),  # unilateral in the first twelve months
        ("doctor", "2025-03-31", 422, None),  # last day of the first twelve months
        ("patient", "2025-04-01", 200, "2025-05-31"),  # the first anniversary: second year
        ("doctor", "2025-12-31", 200, "2026-02-27"),  # takes effect 28 Feb (31 Dec + 2 months), last day 27
        ("mutual", "2024-12-29", 200, "2025-02-27"),  # 29 Feb does not exist in 2025
        ("mutual", "2024-02-29", 422, None),  # signed before the CNS validated the declaration
    ],
)
def test_revocation_r6(client, initiator, signed, status, end):
    declaration(client, "ct", patient(client, "p"), doctor(client, "dr"), signed="2024-03-01")
    validate(client, "ct", "2024-03-10")  # effective 2024-04-01
    r = call(client, "ct", "revoke", initiator=initiator, signatureDate=signed)
    assert r.status_code == status, r.text
    if end:
        assert r.json()["period"]["end"] == end
        reason = next(e for e in r.json()["extension"] if e["url"].endswith("mr-end-reason"))
        assert reason["valueCodeableConcept"]["coding"][0]["code"].startswith("revoked-")
        assert r.json()["status"] == "inactive"  # that last day has passed (today is later)
    else:
        assert r.json()["issue"][0]["diagnostics"].startswith("R6")
        assert "end" not in client.get("/CareTeam/ct").json()["period"]


def test_end_by_death(client):
    declaration(client, "ct", patient(client, "p"), doctor(client, "dr"))
    validate(client, "ct", "2024-11-10")
    r = call(client, "ct", "end", reason="deceased", date="2025-06-30")
    assert r.status_code == 200 and r.json()["period"]["end"] == "2025-06-30"
    assert call(client, "ct", "end", reason="bored", date="2025-06-30").status_code == 400
    assert call(client, "ct", "revoke", initiator="patient", signatureDate="2025-07-01").status_code == 409


def test_status_keeper_closes_relationships_whose_end_has_passed(client):
    import asyncio

    from fhir_server.api.mr.facts import MrFacts
    from fhir_server.api.mr.status_keeper import close_ended_relationships

    declaration(client, "ct", patient(client, "p"), doctor(client, "dr"))
    team = validate(client, "ct", "2024-11-10").json()
    ended = {
        **team,
        "period": {**team["period"], "end": "2025-01-31"},
        "extension": [
            *team["extension"],
            {
                "url": f"{LU}/StructureDefinition/mr-end-reason",
                "valueCodeableConcept": {
                    "coding": [{"system": f"{LU}/CodeSystem/mr-end-reason", "code": "revoked-mutual"}]
                },
            },
        ],
    }
    _put(client, ended)  # ended, still marked active
    facts = MrFacts(client.app.state.repository, __import__("zoneinfo").ZoneInfo("Europe/Luxembourg"))
    assert client.portal.call(close_ended_relationships, facts) == 1
    assert client.get("/CareTeam/ct").json()["status"] == "inactive"
    assert asyncio.iscoroutinefunction(close_ended_relationships)


def test_mr_status(client):
    patient_ref = patient(client, "p")
    declaration(client, "ct", patient_ref, doctor(client, "dr"))
    validate(client, "ct", "2024-11-10")  # effective 2024-12-01, résumé due 2025-02-28

    def status(day: str) -> dict:
        r = client.get(f"/Patient/p/$mr-status?date={day}")
        assert r.status_code == 200, r.text
        return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in r.json()["parameter"]}

    before = status("2024-11-20")
    assert before["hasMr"] is False
    during = status("2025-02-28")
    assert during["hasMr"] is True and during["effectiveDate"] == "2024-12-01"
    assert during["mr"] == {"reference": "Practitioner/dr"} and during["careTeam"] == {"reference": "CareTeam/ct"}
    assert during["resumeDueDate"] == "2025-02-28" and during["resumeOverdue"] is False
    assert during["mr03Eligible"] is False and during["mr03NextDate"] == "2025-06-01"  # six months after (R10)
    assert status("2025-03-01")["resumeOverdue"] is True
    assert client.get("/Patient/nobody/$mr-status").status_code == 404


def test_only_the_current_mr_writes_the_resume_patient(client):
    patient_ref = patient(client, "p")
    declaration(client, "ct", patient_ref, doctor(client, "dr"), signed="2020-01-02")
    assert validate(client, "ct", "2020-01-10").status_code == 200  # effective 2020-02-01: the MR today
    doctor(client, "other", provider_code="60334127")
    example = Path(__file__).parents[2] / "profiles" / "examples" / "lu-resume-patient-valid-luc-reding.json"
    resume = {k: v for k, v in json.loads(example.read_text(encoding="utf-8")).items() if k not in ("id", "custodian")}
    resume["subject"] = {"reference": patient_ref}
    r = client.post("/Composition", json={**resume, "author": [{"reference": "Practitioner/other"}]})
    assert r.status_code == 403 and r.json()["issue"][0]["diagnostics"].startswith("R8")
    assert client.get(f"/Composition?subject={patient_ref}").json()["total"] == 0
    r = client.post("/Composition", json={**resume, "author": [{"reference": "PractitionerRole/role-dr"}]})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = client.put(f"/Composition/{cid}", json={**resume, "id": cid, "author": [{"reference": "Practitioner/other"}]})
    assert r.status_code == 403
    status = client.get("/Patient/p/$mr-status").json()
    assert any(p["name"] == "resumeLastUpdated" for p in status["parameter"])


def test_operation_definitions_are_served_and_listed(shared_client):
    for name in ("validate-declaration", "revoke", "end", "mr-status"):
        definition = shared_client.get(f"/OperationDefinition/{name}").json()
        assert definition["code"] == name and definition["url"] == f"{LU}/OperationDefinition/{name}"
    cap = shared_client.get("/metadata").json()
    care_team = next(r for r in cap["rest"][0]["resource"] if r["type"] == "CareTeam")
    assert {o["name"] for o in care_team["operation"]} >= {"validate-declaration", "revoke", "end"}


def test_rule_interpretations_are_configurable(tmp_path):
    """A deployment changes an interpretation in one JSON file: here the first year includes
    its anniversary, so a unilateral revocation signed that day is refused (R6)."""
    from support import make_client

    rules = tmp_path / "mr-rules.json"
    rules.write_text(json.dumps({"first_year_includes_anniversary": True}), encoding="utf-8")
    with make_client(tmp_path, mr_rules_file=rules) as client:
        declaration(client, "ct", patient(client, "p"), doctor(client, "dr"), signed="2024-03-01")
        validate(client, "ct", "2024-03-10")  # effective 2024-04-01
        r = call(client, "ct", "revoke", initiator="patient", signatureDate="2025-04-01")
        assert r.status_code == 422 and r.json()["issue"][0]["diagnostics"].startswith("R6")


def test_demo_data_answers_mr_status(demo_client):
    """The demo set is coherent with the rules: Marie's MR wrote her résumé on 20 Jan 2025,
    within three months of the effective date (R8); the proposed declaration can be validated."""
    r = demo_client.get("/Patient/lu-patient-marie-schmit/$mr-status?date=2025-06-01")
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in r.json()["parameter"]}
    assert values["mr"] == {"reference": "Practitioner/lu-practitioner-claude-weber"}
    assert values["resumeLastUpdated"] == "2025-01-20" and values["resumeOverdue"] is False
    assert values["mr03Eligible"] is True  # six months after 1 Dec 2024
    validated = validate(demo_client, "lu-careteam-mr-josiane-thill", "2026-11-10")
    assert validated.status_code == 200, validated.text
    assert validated.json()["period"]["start"] == "2026-12-01"


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("POST", "/CareTeam/ct/$validate-declaration", {"resourceType": "Parameters"}, 400),
        (
            "POST",
            "/CareTeam/ct/$validate-declaration",
            {"resourceType": "Parameters", "parameter": [{"name": "validationDate", "valueString": "x' OR 1=1"}]},
            400,
        ),
        ("POST", "/CareTeam/ct/$validate-declaration", [1, 2], 400),
        (
            "POST",
            "/CareTeam/ct/$revoke",
            {"resourceType": "Parameters", "parameter": [{"name": "initiator", "valueString": "nobody"}]},
            400,
        ),
        (
            "POST",
            "/CareTeam/ct/$end",
            {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "deceased"}]},
            400,
        ),
        ("GET", "/CareTeam/ct/$validate-declaration", None, 405),
        ("GET", "/Patient/p/$mr-status?date=31/12/2024", None, 400),
        ("GET", "/Patient/..%2Fetc/$mr-status", None, 404),
        ("POST", "/Claim/$submit", {"resourceType": "Claim"}, 422),
        (
            "POST",
            "/CareTeam/other/$validate-declaration",
            {"resourceType": "Parameters", "parameter": [{"name": "validationDate", "valueDate": "2024-11-10"}]},
            422,
        ),
    ],
)
def test_hostile_operation_calls(shared_client, method, url, body, status):
    declaration(shared_client, "ct", patient(shared_client, "p"), doctor(shared_client, "dr"))
    _put(shared_client, {"resourceType": "CareTeam", "id": "other", "status": "proposed"})  # not an MR care team
    r = shared_client.request(method, url, json=body)
    assert r.status_code == status, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert shared_client.get("/CareTeam/ct").json()["status"] == "proposed"


def test_mr_status_counts_only_resume_compositions(demo_client):
    """A later document of another type for the patient (a consultation note) is not a résumé (R8)."""
    note = {
        "resourceType": "Composition",
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4", "display": "Consult note"}]},
        "subject": {"reference": "Patient/lu-patient-marie-schmit"},
        "date": "2025-05-01",
        "author": [{"reference": "Practitioner/lu-practitioner-claude-weber"}],
        "title": "Consultation",
    }
    assert demo_client.post("/Composition", json=note).status_code == 201, "stored"
    r = demo_client.get("/Patient/lu-patient-marie-schmit/$mr-status?date=2025-06-01")
    values = {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in r.json()["parameter"]}
    assert values["resumeLastUpdated"] == "2025-01-20"
