"""Issue 7.3–7.5: the patient's Consent changes who sees what, at once; hidden resources
leak through no search feature; break-the-glass is allowed only by the patient's policy."""

from __future__ import annotations

import copy

import pytest
from security_kit import Tokens, bearer

MARIE = "lu-patient-marie-schmit"
WEBER = "lu-practitioner-claude-weber"  # Marie's MR
MULLER = "lu-practitioner-anne-muller"  # not Marie's MR
REUTER = "lu-practitioner-marc-reuter"  # denied by Marie's demo consent
CONSENT = "lu-consent-dsp-marie-schmit"
RESUME = "lu-composition-resume-marie-schmit"
CONDITION = "lu-condition-marie-schmit-g35"
RESUME_CLASS = {"system": "http://loinc.org", "code": "60591-5"}
BTG_POLICY = {"uri": "https://fhir.mr.lu/policy/break-the-glass"}


def _change_consent(client, tokens: Tokens, *provisions: dict, btg: bool = False) -> None:
    """Marie rewrites her own Consent (as the patient app would)."""
    headers = bearer(tokens.patient(MARIE))
    consent = client.get(f"/Consent/{CONSENT}", headers=headers).json()
    changed = copy.deepcopy(consent)
    changed["provision"]["provision"] = list(provisions) or consent["provision"]["provision"]
    changed["policy"] = [consent["policy"][0], *([BTG_POLICY] if btg else [])]
    response = client.put(f"/Consent/{CONSENT}", json=changed, headers=headers)
    assert response.status_code == 200, response.text


def _deny(**what) -> dict:
    return {"type": "deny", **what}


def _actor(practitioner: str) -> list[dict]:
    role = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]}
    return [{"role": role, "reference": {"reference": f"Practitioner/{practitioner}"}}]


def _status(client, token: str, path: str, **headers: str) -> int:
    return client.get(path, headers=bearer(token, **headers)).status_code


def _match_ids(client, token: str, path: str) -> set[str]:
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"}


def _included_ids(client, token: str, path: str) -> set[str]:
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "include"}


def test_permit_opens_the_record_to_a_named_professional_at_once(fresh_secured) -> None:
    client, tokens = fresh_secured
    muller = tokens.practitioner(MULLER)
    assert _status(client, muller, f"/Condition/{CONDITION}") == 404
    _change_consent(client, tokens, {"type": "permit", "actor": _actor(MULLER)})
    assert _status(client, muller, f"/Condition/{CONDITION}") == 200
    assert _match_ids(client, muller, f"/Condition?patient={MARIE}") == {CONDITION}


def test_denying_the_mr_shuts_them_out_at_once(fresh_secured) -> None:
    client, tokens = fresh_secured
    weber = tokens.practitioner(WEBER)
    assert _status(client, weber, f"/Condition/{CONDITION}") == 200
    _change_consent(client, tokens, _deny(actor=_actor(WEBER)))
    assert _status(client, weber, f"/Condition/{CONDITION}") == 404
    assert _status(client, weber, f"/Patient/{MARIE}") == 404
    assert _match_ids(client, weber, f"/Condition?patient={MARIE}") == set()
    # still the MR of Jean Wagner
    assert _status(client, weber, "/Condition/lu-condition-jean-wagner-g20") == 200


HIDING = {
    "by class": _deny(**{"class": [RESUME_CLASS]}),
    "by data": _deny(data=[{"meaning": "instance", "reference": {"reference": f"Composition/{RESUME}"}}]),
    "by class, from the MR only": _deny(**{"class": [RESUME_CLASS]}, actor=_actor(WEBER)),
    "by resource type": _deny(**{"class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Composition"}]}),
}


@pytest.mark.parametrize("how", list(HIDING))
def test_hidden_item_leaks_through_no_search_feature(fresh_secured, how: str) -> None:
    client, tokens = fresh_secured
    weber = tokens.practitioner(WEBER)
    assert _status(client, weber, f"/Composition/{RESUME}") == 200
    _change_consent(client, tokens, HIDING[how])
    probes = {
        "read": _status(client, weber, f"/Composition/{RESUME}") == 404,
        "vread": _status(client, weber, f"/Composition/{RESUME}/_history/1") == 404,
        "history": _status(client, weber, f"/Composition/{RESUME}/_history") == 404,
        "search": _match_ids(client, weber, f"/Composition?subject={MARIE}") == set(),
        "search by id": _match_ids(client, weber, f"/Composition?_id={RESUME}") == set(),
        "total": client.get(f"/Composition?subject={MARIE}&_total=accurate", headers=bearer(weber)).json()["total"]
        == 0,
        "_revinclude": _included_ids(client, weber, f"/Patient?_id={MARIE}&_revinclude=Composition:subject") == set(),
        "_has": _match_ids(client, weber, "/Patient?_has:Composition:subject:type=60591-5") == set(),
        "chain": _match_ids(
            client, weber, f"/Condition?patient={MARIE}&subject:Patient._has:Composition:subject:type=60591-5"
        )
        == set(),
        "$mr-status still works": _status(client, weber, f"/Patient/{MARIE}/$mr-status") == 200,
        "the rest of the record": _status(client, weber, f"/Condition/{CONDITION}") == 200,
        "the patient still sees it": _status(client, tokens.patient(MARIE), f"/Composition/{RESUME}") == 200,
    }
    assert [name for name, held in probes.items() if not held] == []


def test_hiding_from_one_professional_leaves_others_unaffected(fresh_secured) -> None:
    client, tokens = fresh_secured
    _change_consent(client, tokens, HIDING["by class, from the MR only"], {"type": "permit", "actor": _actor(MULLER)})
    assert _status(client, tokens.practitioner(WEBER), f"/Composition/{RESUME}") == 404
    assert _status(client, tokens.practitioner(MULLER), f"/Composition/{RESUME}") == 200


def test_break_the_glass_needs_the_patients_policy_and_a_reason(fresh_secured) -> None:
    client, tokens = fresh_secured
    reuter = tokens.practitioner(REUTER)
    glass = {"X-Break-Glass-Patient": MARIE, "X-Break-Glass-Reason": "patient%20unconscious%20in%20A%26E"}
    assert _status(client, reuter, f"/Condition/{CONDITION}") == 404
    assert _status(client, reuter, f"/Condition/{CONDITION}", **glass) == 403  # demo consent: no BTG policy
    _change_consent(client, tokens, btg=True)
    assert _status(client, reuter, f"/Condition/{CONDITION}", **glass) == 200
    assert _status(client, reuter, f"/Condition/{CONDITION}", **{"X-Break-Glass-Patient": MARIE}) == 400
    assert _status(client, reuter, f"/Condition/{CONDITION}") == 404  # only while breaking the glass
    write = client.post(
        "/Condition",
        json={"resourceType": "Condition", "subject": {"reference": f"Patient/{MARIE}"}},
        headers=bearer(reuter, **glass),
    )
    assert write.status_code == 403  # break-the-glass is read-only


@pytest.mark.parametrize(
    ("who", "subject", "status"),
    [
        ("weber", MARIE, 201),  # the MR writes in their patient's record
        ("weber", "lu-patient-luc-reding", 403),  # not their patient
        ("muller", MARIE, 403),
        ("marie", MARIE, 403),  # patients write their Consents only
        ("cns", MARIE, 403),  # the CNS: declarations and claims
        ("system", MARIE, 201),
    ],
)
def test_who_may_write_a_condition(fresh_secured, who: str, subject: str, status: int) -> None:
    client, tokens = fresh_secured
    token = {
        "weber": tokens.practitioner(WEBER),
        "muller": tokens.practitioner(MULLER),
        "marie": tokens.patient(MARIE),
        "cns": tokens.system("cns"),
        "system": tokens.system("ehr"),
    }[who]
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{subject}"},
        "code": {"text": "hypertension"},
    }
    before = client.get("/Condition?_total=accurate", headers=bearer(tokens.system("ehr"))).json()["total"]
    response = client.post("/Condition", json=condition, headers=bearer(token))
    assert response.status_code == status, response.text
    after = client.get("/Condition?_total=accurate", headers=bearer(tokens.system("ehr"))).json()["total"]
    assert after == before + (1 if status == 201 else 0)


def test_a_patient_cannot_write_another_patients_consent(fresh_secured) -> None:
    client, tokens = fresh_secured
    consent = client.get(f"/Consent/{CONSENT}", headers=bearer(tokens.patient(MARIE))).json()
    del consent["id"]
    consent["patient"] = {"reference": "Patient/lu-patient-tom-kremer"}
    response = client.post("/Consent", json=consent, headers=bearer(tokens.patient(MARIE)))
    assert response.status_code == 403
    response = client.post("/Consent", json=consent, headers=bearer(tokens.patient("lu-patient-tom-kremer")))
    assert response.status_code == 201, response.text


def test_a_professional_declares_themselves_mr_but_no_one_else(fresh_secured) -> None:
    client, tokens = fresh_secured
    team = client.get("/CareTeam/lu-careteam-mr-josiane-thill", headers=bearer(tokens.system("ehr"))).json()
    del team["id"]
    team["subject"] = {"reference": "Patient/lu-patient-tom-kremer"}
    team["participant"] = [p for p in team["participant"] if p["member"]["reference"].startswith("PractitionerRole")]
    team["participant"][0]["member"] = {"reference": f"Practitioner/{MULLER}"}
    assert client.post("/CareTeam", json=team, headers=bearer(tokens.practitioner(WEBER))).status_code == 403
    response = client.post("/CareTeam", json=team, headers=bearer(tokens.practitioner(MULLER)))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_audit_events_cannot_be_changed_or_deleted(fresh_secured, method: str) -> None:
    client, tokens = fresh_secured
    system = bearer(tokens.system("ehr"))
    client.get(f"/Patient/{MARIE}", headers=system)
    events = []
    for _ in range(50):
        events = client.get("/AuditEvent?_count=1", headers=system).json().get("entry", [])
        if events:
            break
        __import__("time").sleep(0.05)
    event = events[0]["resource"]
    body = {"PUT": event, "PATCH": [{"op": "replace", "path": "/action", "value": "D"}], "DELETE": None}[method]
    headers = {**system, "Content-Type": "application/json-patch+json"} if method == "PATCH" else system
    response = client.request(method, f"/AuditEvent/{event['id']}", json=body, headers=headers)
    assert response.status_code == 405, response.text


def test_only_the_current_mr_writes_the_resume_even_with_a_permit(fresh_secured) -> None:
    """R8 with tokens: the writer is the caller, not the Composition's author field."""
    client, tokens = fresh_secured
    _change_consent(client, tokens, {"type": "permit", "actor": _actor(MULLER)})
    resume = client.get(f"/Composition/{RESUME}", headers=bearer(tokens.patient(MARIE))).json()
    muller = client.put(f"/Composition/{RESUME}", json=resume, headers=bearer(tokens.practitioner(MULLER)))
    assert muller.status_code == 403 and "R8" in muller.text, muller.text
    weber = client.put(f"/Composition/{RESUME}", json=resume, headers=bearer(tokens.practitioner(WEBER)))
    assert weber.status_code == 200, weber.text


def test_everything_shows_only_what_the_caller_may_see(fresh_secured) -> None:
    client, tokens = fresh_secured
    _change_consent(client, tokens, HIDING["by class"])
    url = f"/Patient/{MARIE}/$everything?_count=100"

    def ids(token: str) -> set[str]:
        response = client.get(url, headers=bearer(token))
        assert response.status_code == 200, response.text
        return {e["resource"]["id"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"}

    assert RESUME in ids(tokens.patient(MARIE)) and CONSENT in ids(tokens.patient(MARIE))
    weber = ids(tokens.practitioner(WEBER))
    assert CONDITION in weber and RESUME not in weber and CONSENT not in weber
    assert client.get(url, headers=bearer(tokens.practitioner(REUTER))).status_code == 404
    assert client.get(url, headers=bearer(tokens.patient("lu-patient-tom-kremer"))).status_code == 404
    assert client.get(url, headers=bearer(tokens.system("cns"))).status_code == 403


@pytest.mark.parametrize(("patient", "status"), [("lu-patient-noah-ferreira", 201), (MARIE, 403)])
def test_a_legal_representative_writes_the_consent_of_the_child_only(fresh_secured, patient: str, status: int) -> None:
    client, tokens = fresh_secured
    consent = client.get(f"/Consent/{CONSENT}", headers=bearer(tokens.patient(MARIE))).json()
    del consent["id"]
    consent["patient"] = {"reference": f"Patient/{patient}"}
    consent["performer"] = [{"reference": "RelatedPerson/lu-relatedperson-ana-ferreira"}]
    ana = tokens.related_person("lu-relatedperson-ana-ferreira", "lu-patient-noah-ferreira")
    response = client.post("/Consent", json=consent, headers=bearer(ana))
    assert response.status_code == status, response.text


def test_mr_status_says_nothing_of_a_resume_hidden_from_the_caller(fresh_secured) -> None:
    client, tokens = fresh_secured

    def last_update(token: str) -> str | None:
        response = client.get(f"/Patient/{MARIE}/$mr-status", headers=bearer(token))
        assert response.status_code == 200, response.text
        found = [p for p in response.json()["parameter"] if p["name"] == "resumeLastUpdated"]
        values = [v for k, v in found[0].items() if k.startswith("value")] if found else []
        return values[0] if values else None

    assert last_update(tokens.practitioner(WEBER)) is not None
    _change_consent(client, tokens, HIDING["by class, from the MR only"])
    assert last_update(tokens.practitioner(WEBER)) is None
    assert last_update(tokens.patient(MARIE)) is not None
