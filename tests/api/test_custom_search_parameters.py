"""SearchParameter resources as data: the Luxembourg ones ship in profiles/, new ones
make existing resources searchable after a reindex, and the CapabilityStatement follows."""

from __future__ import annotations

import time

from support import patient

MATRICULE = "urn:oid:1.3.182.4.4"


def _capability_params(client, resource_type: str) -> set[str]:
    cap = client.get("/metadata").json()
    resource = next(r for r in cap["rest"][0]["resource"] if r["type"] == resource_type)
    return {p["name"] for p in resource["searchParam"]}


def _wait_for_reindex(client, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = client.get("/$reindex").json().get("parameter", [])
        states = [{p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in j["part"]} for j in jobs]
        if states and all(s["status"] in ("completed", "failed") for s in states):
            return states[-1]
        assert time.monotonic() < deadline, states
        time.sleep(0.05)


def test_luxembourg_search_parameters_are_published_and_work(client):
    assert client.get("/SearchParameter/lu-patient-matricule").json()["code"] == "matricule"
    assert "matricule" in _capability_params(client, "Patient")
    assert "declaration-number" in _capability_params(client, "CareTeam")
    client.post("/Patient", json=patient(identifier=[{"system": MATRICULE, "value": "1893120105732"}]))
    client.post("/Patient", json=patient(identifier=[{"system": "urn:other", "value": "1893120105732"}]))
    assert client.get("/Patient?matricule=1893120105732").json()["total"] == 1


def test_new_search_parameter_reindexes_existing_resources(client):
    for family in ("Schmit", "Weber", "Wagner"):
        client.post("/Patient", json=patient(family, extension=[{"url": "urn:test:dsp", "valueBoolean": True}]))
    client.post("/Patient", json=patient("Reding", extension=[{"url": "urn:test:dsp", "valueBoolean": False}]))
    assert client.get("/Patient?dsp-active=true", headers={"Prefer": "handling=strict"}).status_code == 400
    parameter = {
        "resourceType": "SearchParameter",
        "id": "test-dsp-active",
        "url": "https://example.lu/SearchParameter/dsp-active",
        "name": "DspActive",
        "status": "active",
        "description": "Whether the patient's DSP is activated",
        "code": "dsp-active",
        "base": ["Patient"],
        "type": "token",
        "expression": "Patient.extension.where(url='urn:test:dsp').value",
    }
    assert client.put("/SearchParameter/test-dsp-active", json=parameter).status_code == 201
    job = _wait_for_reindex(client)
    assert job["status"] == "completed" and job["processed"] == job["total"] >= 4
    assert client.get("/Patient?dsp-active=true").json()["total"] == 3
    assert client.get("/Patient?dsp-active=false").json()["total"] == 1
    assert "dsp-active" in _capability_params(client, "Patient")
    # retired: no longer searchable nor advertised
    client.put("/SearchParameter/test-dsp-active", json={**parameter, "status": "retired"})
    _wait_for_reindex(client)
    assert "dsp-active" not in _capability_params(client, "Patient")
    assert client.get("/Patient?dsp-active=true", headers={"Prefer": "handling=strict"}).status_code == 400


def test_unusable_search_parameter_is_422_and_not_stored(client):
    bad = {
        "resourceType": "SearchParameter",
        "url": "https://example.lu/SearchParameter/bad",
        "name": "Bad",
        "status": "active",
        "description": "no base type we serve",
        "code": "bad",
        "base": ["Patient"],
        "type": "special",
        "expression": "Patient.name",
    }
    r = client.post("/SearchParameter", json=bad)
    assert r.status_code == 422 and r.json()["resourceType"] == "OperationOutcome"
    assert client.get("/SearchParameter?url=https://example.lu/SearchParameter/bad").json()["total"] == 0


def test_manual_reindex_reports_progress(client):
    client.post("/Patient", json=patient())
    started = client.post("/Patient/$reindex", json={"resourceType": "Parameters"}).json()
    status = next(p for p in started["parameter"][0]["part"] if p["name"] == "status")["valueCode"]
    assert status in ("queued", "running", "completed")
    job = _wait_for_reindex(client)
    assert job["status"] == "completed" and job["total"] >= 1
    unknown_type = {"resourceType": "Parameters", "parameter": [{"name": "type", "valueCode": "Unicorn"}]}
    assert client.post("/$reindex", json=unknown_type).status_code == 400
