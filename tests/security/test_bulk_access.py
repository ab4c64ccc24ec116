"""Issue 10.1, who gets what from Bulk Data: an export shows what the caller's searches show
(their compartment, minus what Consents hide, within their scopes), a job answers only the
caller who started it, downloads are filtered by the Consents of the moment and audited, and
only system clients import."""

from __future__ import annotations

import time

import orjson
import pytest
from security_kit import bearer
from support import MARIE_RECORD
from test_access_log import _by, _events
from test_consent_effects import CONDITION, MARIE, RESUME, WEBER, _change_consent

JEAN = "lu-patient-jean-wagner"
HIDE_RESUME_FROM_WEBER = {
    "type": "deny",
    "data": [{"meaning": "instance", "reference": {"reference": f"Composition/{RESUME}"}}],
    "actor": [
        {
            "role": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]
            },
            "reference": {"reference": f"Practitioner/{WEBER}"},
        }
    ],
}
NDJSON = "application/fhir+ndjson"


def kick_off(client, token: str, path: str) -> str:
    response = client.get(path, headers=bearer(token, Prefer="respond-async"))
    assert response.status_code == 202, response.text
    return response.headers["content-location"]


def manifest(client, token: str, status_url: str) -> dict:
    for _ in range(600):
        response = client.get(status_url, headers=bearer(token))
        if response.status_code != 202:
            assert response.status_code == 200, response.text
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"{status_url} still running")


def files(client, token: str, items: list[dict]) -> list[dict]:
    resources = []
    for item in items:
        response = client.get(item["url"], headers=bearer(token))
        assert response.status_code == 200, response.text
        resources += [orjson.loads(line) for line in response.content.splitlines()]
    return resources


def exported(client, token: str, path: str) -> set[str]:
    """``Type/id`` of everything a finished export's files hold (as downloaded by ``token``)."""
    result = manifest(client, token, kick_off(client, token, path))
    assert result["requiresAccessToken"] is True
    return {f"{r['resourceType']}/{r['id']}" for r in files(client, token, result["output"])}


def searched(client, token: str, types: list[str]) -> set[str]:
    out: set[str] = set()
    for rtype in types:
        response = client.get(f"/{rtype}?_count=1000", headers=bearer(token))
        assert response.status_code == 200, response.text
        out |= {f"{rtype}/{e['resource']['id']}" for e in response.json().get("entry", [])}
    return out


def test_a_patient_exports_their_own_record_and_nothing_else(secured) -> None:
    client, tokens = secured
    marie = tokens.patient(MARIE)
    assert client.get(f"/Condition/{CONDITION}", headers=bearer(tokens.practitioner(WEBER))).status_code == 200
    assert _events(client, marie, f"patient={MARIE}", 1)  # her access log is in her record
    result = manifest(client, marie, kick_off(client, marie, "/Patient/$export"))
    assert result["requiresAccessToken"] is True
    resources = files(client, marie, result["output"])
    record = {f"{r['resourceType']}/{r['id']}" for r in resources if r["resourceType"] != "AuditEvent"}
    assert record == MARIE_RECORD
    access_log = [r for r in resources if r["resourceType"] == "AuditEvent"]
    assert access_log and all(f"Patient/{MARIE}" in str(e) for e in access_log)  # as agent or entity
    assert all(f"Patient/{JEAN}" not in str(e) for e in access_log)


RECORD_TYPES = ["Patient", "Condition", "Composition", "CareTeam", "Coverage", "Claim"]
OPEN_TYPES = ["Practitioner", "Organization"]


@pytest.mark.parametrize(
    ("who", "types"),
    [
        ("marie", RECORD_TYPES + OPEN_TYPES),
        ("weber", RECORD_TYPES + OPEN_TYPES),
        ("cns", ["Patient", "CareTeam", "Coverage", "Claim", *OPEN_TYPES]),
        ("system", RECORD_TYPES + OPEN_TYPES),
    ],
)
def test_an_export_shows_what_the_callers_searches_show(secured, who: str, types: list[str]) -> None:
    client, tokens = secured
    token = {
        "marie": tokens.patient(MARIE),
        "weber": tokens.practitioner(WEBER),
        "cns": tokens.system("cns"),
        "system": tokens.system("ehr"),
    }[who]
    assert exported(client, token, f"/$export?_type={','.join(types)}") == searched(client, token, types)


def test_a_consent_hiding_the_resume_from_the_mr_hides_it_from_their_export(fresh_secured) -> None:
    client, tokens = fresh_secured
    weber = tokens.practitioner(WEBER)
    assert f"Composition/{RESUME}" in exported(client, weber, "/Patient/$export")
    _change_consent(client, tokens, HIDE_RESUME_FROM_WEBER)
    record = exported(client, weber, "/Patient/$export")
    assert f"Composition/{RESUME}" not in record and f"Condition/{CONDITION}" in record
    assert f"Composition/{RESUME}" in exported(client, tokens.patient(MARIE), "/Patient/$export?_type=Composition")


def test_a_consent_changed_after_the_kick_off_applies_to_the_download(fresh_secured) -> None:
    client, tokens = fresh_secured
    weber = tokens.practitioner(WEBER)
    result = manifest(client, weber, kick_off(client, weber, "/Patient/$export?_type=Composition,Condition"))
    _change_consent(client, tokens, HIDE_RESUME_FROM_WEBER)
    downloaded = {f"{r['resourceType']}/{r['id']}" for r in files(client, weber, result["output"])}
    assert f"Composition/{RESUME}" not in downloaded and f"Condition/{CONDITION}" in downloaded


def test_downloads_show_in_the_patients_access_log(fresh_secured) -> None:
    client, tokens = fresh_secured
    weber, marie = tokens.practitioner(WEBER), tokens.patient(MARIE)
    result = manifest(client, weber, kick_off(client, weber, "/Patient/$export?_type=Condition"))
    files(client, weber, result["output"])
    events = _by(_events(client, marie, f"patient={MARIE}&entity=Condition/{CONDITION}", 1), f"Practitioner/{WEBER}")
    assert events and f"Patient/{JEAN}" not in str(events)


def test_types_outside_the_scopes_are_named_in_the_error_file(secured) -> None:
    client, tokens = secured
    token = tokens.practitioner(WEBER, scope="user/Patient.rs")
    result = manifest(client, token, kick_off(client, token, "/Patient/$export?_type=Patient,Condition"))
    assert [item["type"] for item in result["output"]] == ["Patient"]
    (outcome,) = files(client, token, result["error"])
    assert outcome["issue"][0]["code"] == "forbidden" and "Condition" in outcome["issue"][0]["diagnostics"]
    unasked = manifest(client, token, kick_off(client, token, "/Patient/$export"))  # no _type: left out silently
    assert [item["type"] for item in unasked["output"]] == ["Patient"] and unasked["error"] == []


def test_a_patient_token_without_search_on_patient_cannot_kick_off_at_patient_level(secured) -> None:
    client, tokens = secured
    token = tokens.patient(MARIE, scope="patient/Condition.rs")
    response = client.get("/Patient/$export", headers=bearer(token, Prefer="respond-async"))
    assert response.status_code == 403


def test_a_job_answers_only_the_caller_who_started_it(secured) -> None:
    client, tokens = secured
    marie = tokens.patient(MARIE)
    status_url = kick_off(client, marie, "/Patient/$export?_type=Patient")
    item = manifest(client, marie, status_url)["output"][0]
    others = {
        "another patient": tokens.patient(JEAN),
        "her MR": tokens.practitioner(WEBER),
        "a system client": tokens.system("ehr"),
        "the same user through another app": tokens.mint(
            scope="patient/*.rs", client_id="other-app", subject=MARIE, patient=MARIE, fhir_user=f"Patient/{MARIE}"
        ),
    }
    for who, token in others.items():
        assert client.get(status_url, headers=bearer(token)).status_code == 404, who
        assert client.get(item["url"], headers=bearer(token)).status_code == 404, who
        assert client.delete(status_url, headers=bearer(token)).status_code == 404, who
    assert client.get(status_url).status_code == 401
    assert client.get(item["url"]).status_code == 401
    assert client.get(item["url"], headers=bearer(marie)).status_code == 200  # still there for Marie


def test_break_the_glass_does_not_open_a_bulk_export(secured) -> None:
    client, tokens = secured
    glass = {"X-Break-Glass-Patient": MARIE, "X-Break-Glass-Reason": "emergency", "Prefer": "respond-async"}
    response = client.get("/Patient/$export", headers=bearer(tokens.practitioner(WEBER), **glass))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("who", "status"),
    [("marie", 403), ("weber", 403), ("cns", 403), ("system", 202), ("anonymous", 401)],
)
def test_only_system_clients_import(secured, who: str, status: int) -> None:
    client, tokens = secured
    token = {
        "marie": tokens.patient(MARIE),
        "weber": tokens.practitioner(WEBER),
        "cns": tokens.system("cns"),
        "system": tokens.system("ehr"),
    }.get(who)
    headers = {"Prefer": "respond-async", "Content-Type": NDJSON}
    body = orjson.dumps({"resourceType": "Organization", "id": f"import-by-{who}", "name": who})
    response = client.post("/$import", content=body, headers=bearer(token, **headers) if token else headers)
    assert response.status_code == status, response.text


def test_an_import_is_limited_by_the_system_scopes(fresh_secured) -> None:
    client, tokens = fresh_secured
    token = tokens.system("ehr", scope="system/Organization.c")
    lines = [
        {"resourceType": "Organization", "id": "new-org", "name": "Labo"},
        {"resourceType": "Patient", "id": "new-patient"},  # no scope for Patient
        {"resourceType": "Organization", "id": "new-org", "name": "Labo renamed"},  # an update: no 'u'
    ]
    response = client.post(
        "/$import",
        content=b"\n".join(orjson.dumps(line) for line in lines),
        headers=bearer(token, Prefer="respond-async", **{"Content-Type": NDJSON}),
    )
    assert response.status_code == 202, response.text
    result = manifest(client, token, response.headers["content-location"])
    refused = sorted(o["issue"][0]["diagnostics"][:6] for o in files(client, token, result["error"]))
    assert refused == ["line 2", "line 3"]
    reader = bearer(tokens.system("ehr"))
    assert client.get("/Organization/new-org", headers=reader).json()["name"] == "Labo"
    assert client.get("/Patient/new-patient", headers=reader).status_code == 404
