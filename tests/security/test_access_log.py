"""Issue 7.6: every access leaves an AuditEvent; the patient reads who accessed their record
(including denied attempts and break-the-glass with its reason), and no one else's."""

from __future__ import annotations

import json
import time

from security_kit import bearer
from test_consent_effects import BTG_POLICY, CONDITION, CONSENT, MARIE, REUTER, WEBER


def _events(client, token: str, query: str, expected: int) -> list[dict]:
    """The AuditEvents a search returns, once at least ``expected`` are written (the trail batches)."""
    events: list[dict] = []
    for _ in range(100):
        response = client.get(f"/AuditEvent?{query}&_count=200", headers=bearer(token))
        assert response.status_code == 200, response.text
        events = [e["resource"] for e in response.json().get("entry", []) if e["search"]["mode"] == "match"]
        if len(events) >= expected:
            return events
        time.sleep(0.05)
    return events


def _by(events: list[dict], who: str) -> list[dict]:
    return [e for e in events if any((a.get("who") or {}).get("reference") == who for a in e["agent"])]


def test_patient_reads_who_accessed_their_record(fresh_secured) -> None:
    client, tokens = fresh_secured
    marie = tokens.patient(MARIE)
    consent = client.get(f"/Consent/{CONSENT}", headers=bearer(marie)).json()
    consent["policy"].append(BTG_POLICY)
    assert client.put(f"/Consent/{CONSENT}", json=consent, headers=bearer(marie)).status_code == 200
    weber, reuter = tokens.practitioner(WEBER), tokens.practitioner(REUTER)
    assert client.get(f"/Condition/{CONDITION}", headers=bearer(weber)).status_code == 200
    assert client.get("/Patient?_count=10", headers=bearer(weber)).status_code == 200  # Marie and Jean
    assert client.get(f"/Condition/{CONDITION}", headers=bearer(reuter)).status_code == 404
    glass = {"X-Break-Glass-Patient": MARIE, "X-Break-Glass-Reason": "unconscious%20at%20the%20ER"}
    assert client.get(f"/Condition/{CONDITION}", headers=bearer(reuter, **glass)).status_code == 200

    events = _events(client, marie, f"patient={MARIE}", 5)
    weber_events, reuter_events = _by(events, f"Practitioner/{WEBER}"), _by(events, f"Practitioner/{REUTER}")
    assert {e["outcome"] for e in weber_events} == {"0"} and len(weber_events) == 2
    assert sorted(e["outcome"] for e in reuter_events) == ["0", "4"]  # denied attempt, then break-the-glass
    btg = next(e for e in reuter_events if e["outcome"] == "0")
    assert btg["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
    assert "unconscious at the ER" in json.dumps(btg)
    text = json.dumps(events)
    assert "lu-patient-jean-wagner" not in text  # one event per patient: no other patient appears


def test_a_patient_sees_no_one_elses_access_log(fresh_secured) -> None:
    client, tokens = fresh_secured
    assert client.get(f"/Condition/{CONDITION}", headers=bearer(tokens.practitioner(WEBER))).status_code == 200
    assert _events(client, tokens.system("auditor", "system/AuditEvent.rs"), f"patient={MARIE}", 1)
    tom = tokens.patient("lu-patient-tom-kremer")
    response = client.get(f"/AuditEvent?patient={MARIE}&_total=accurate", headers=bearer(tom))
    assert response.status_code == 200 and response.json()["total"] == 0
    assert client.get(f"/AuditEvent?patient={MARIE}", headers=bearer(tokens.practitioner(WEBER))).status_code == 403


def test_every_kind_of_access_is_recorded(fresh_secured) -> None:
    client, tokens = fresh_secured
    system = tokens.system("ehr")
    weber = tokens.practitioner(WEBER)
    client.get(f"/Patient/{MARIE}", headers=bearer(weber))  # read
    client.get(f"/Condition?patient={MARIE}", headers=bearer(weber))  # search
    client.get(f"/Patient/{MARIE}/$mr-status", headers=bearer(weber))  # operation
    client.post(
        "/Condition",
        json={"resourceType": "Condition", "subject": {"reference": f"Patient/{MARIE}"}},
        headers=bearer(weber),
    )  # write
    client.get("/Patient/lu-patient-luc-reding", headers=bearer(weber))  # hidden: denial in Luc's log
    client.get("/AuditEvent", headers={})  # no token: an anonymous denial
    events = _events(client, system, f"agent=Practitioner/{WEBER}", 5)
    codes = {c["code"] for e in events for c in e.get("subtype", [])}
    assert {"read", "search-type", "operation", "create"} <= codes
    luc = _events(client, system, "patient=lu-patient-luc-reding", 1)
    assert [e["outcome"] for e in _by(luc, f"Practitioner/{WEBER}")] == ["4"]


def test_writes_are_in_the_patients_log_and_name_the_resource(fresh_secured) -> None:
    """BALP: a create or update of a resource in a patient's record appears in that patient's access
    log, naming the version written; a refused write names no resource that was not written."""
    client, tokens = fresh_secured
    weber = tokens.practitioner(WEBER)
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{MARIE}"}}
    created = client.post("/Condition", json=condition, headers=bearer(weber))
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    updated = client.put(
        f"/Condition/{new_id}", json={**created.json(), "note": [{"text": "x"}]}, headers=bearer(weber)
    )
    assert updated.status_code == 200, updated.text
    luc = {"resourceType": "Condition", "subject": {"reference": "Patient/lu-patient-luc-reding"}}
    assert client.post("/Condition", json=luc, headers=bearer(weber)).status_code == 403

    events = _by(_events(client, tokens.patient(MARIE), f"patient={MARIE}", 2), f"Practitioner/{WEBER}")
    written = {
        e["subtype"][0]["code"]: [
            x["what"]["reference"] for x in e.get("entity", []) if "reference" in x.get("what", {})
        ]
        for e in events
    }
    assert f"Condition/{new_id}/_history/1" in written["create"]
    assert f"Condition/{new_id}/_history/2" in written["update"]
    assert f"Patient/{MARIE}" in written["create"] and f"Patient/{MARIE}" in written["update"]
    system = tokens.system("auditor", "system/AuditEvent.rs")
    denied = _by(_events(client, system, "outcome=4", 1), f"Practitioner/{WEBER}")
    assert denied and all("Condition/" not in json.dumps(e.get("entity", [])) for e in denied)
