"""Batch and transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction)."""

from __future__ import annotations

from support import BASE, patient

MATRICULE = "urn:oid:1.3.182.4.4"


def _transaction(*entries: dict, kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def test_transaction_rewrites_urn_uuid_references(client):
    bundle = _transaction(
        {
            "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
            "resource": patient(),
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "fullUrl": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
            "resource": {
                "resourceType": "CareTeam",
                "status": "proposed",
                "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
            },
            "request": {"method": "POST", "url": "CareTeam"},
        },
    )
    r = client.post("/", json=bundle)
    assert r.status_code == 200
    result = r.json()
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    patient_location = result["entry"][0]["response"]["location"]
    pid = patient_location.split("/")[1]
    assert patient_location == f"Patient/{pid}/_history/1"
    care_team_id = result["entry"][1]["response"]["location"].split("/")[1]
    stored = client.get(f"/CareTeam/{care_team_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{pid}"
    found = client.get(f"/CareTeam?subject=Patient/{pid}").json()
    assert found["total"] == 1


def test_transaction_is_all_or_nothing(client):
    client.put("/Patient/keep", json=patient(id="keep"))
    bundle = _transaction(
        {"resource": patient(id="keep", family="Changed"), "request": {"method": "PUT", "url": "Patient/keep"}},
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient(birthDate="1999-99-99"), "request": {"method": "POST", "url": "Patient"}},
    )
    r = client.post("/", json=bundle)
    assert r.status_code == 400
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Bundle.entry[2]" in outcome["issue"][0]["diagnostics"]
    assert client.get("/Patient").json()["total"] == 1
    assert client.get("/Patient/keep").json()["name"][0]["family"] == "Schmit"
    assert client.get("/Patient/keep/_history").json()["total"] == 1


def test_transaction_conditional_create_and_conditional_reference(client):
    existing = client.post(
        "/Patient", json=patient(identifier=[{"system": MATRICULE, "value": "1893120105732"}])
    ).json()
    bundle = _transaction(
        {
            "fullUrl": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0",
            "resource": patient(identifier=[{"system": MATRICULE, "value": "1893120105732"}]),
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={MATRICULE}|1893120105732"},
        },
        {
            "resource": {
                "resourceType": "Condition",
                "subject": {"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
                "code": {"text": "Sclérose en plaques"},
            },
            "request": {"method": "POST", "url": "Condition"},
        },
        {
            "resource": {
                "resourceType": "Coverage",
                "status": "active",
                "beneficiary": {"reference": f"Patient?identifier={MATRICULE}|1893120105732"},
                "payor": [{"display": "CNS"}],
            },
            "request": {"method": "POST", "url": "Coverage"},
        },
    )
    r = client.post("/", json=bundle)
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    assert entries[0]["response"]["status"] == "200 OK"
    assert client.get("/Patient").json()["total"] == 1
    conditions = client.get(f"/Condition?subject=Patient/{existing['id']}").json()
    assert conditions["total"] == 1
    coverage = client.get(f"/Coverage?beneficiary={existing['id']}").json()
    assert coverage["total"] == 1


def test_transaction_with_unresolvable_urn_fails(client):
    bundle = _transaction(
        {
            "resource": {
                "resourceType": "Condition",
                "subject": {"reference": "urn:uuid:ffffffff-0000-0000-0000-000000000000"},
            },
            "request": {"method": "POST", "url": "Condition"},
        }
    )
    r = client.post("/", json=bundle)
    assert r.status_code == 400
    assert client.get("/Condition").json()["total"] == 0


def test_transaction_processing_order_and_mixed_methods(client):
    client.put("/Patient/old", json=patient(id="old"))
    client.put("/Patient/kept", json=patient(id="kept"))
    bundle = _transaction(
        {"request": {"method": "GET", "url": "Patient/kept"}},
        {"resource": patient(id="kept", family="Neu"), "request": {"method": "PUT", "url": "Patient/kept"}},
        {"request": {"method": "DELETE", "url": "Patient/old"}},
        {"request": {"method": "GET", "url": "Patient?_id=old"}},
    )
    r = client.post("/", json=bundle)
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    # GETs run last: they see the update and the deletion
    assert entries[0]["resource"]["name"][0]["family"] == "Neu"
    assert entries[3]["resource"]["total"] == 0
    assert client.get("/Patient/old").status_code == 410


def test_transaction_rejects_two_changes_of_one_resource(client):
    bundle = _transaction(
        {"resource": patient(id="x"), "request": {"method": "PUT", "url": "Patient/x"}},
        {"request": {"method": "DELETE", "url": "Patient/x"}},
    )
    assert client.post("/", json=bundle).status_code == 400
    assert client.get("/Patient/x").status_code == 404


def test_batch_reports_each_entry(client):
    bundle = _transaction(
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient(birthDate="nope"), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        kind="batch",
    )
    r = client.post("/", json=bundle)
    assert r.status_code == 200
    result = r.json()
    assert result["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses[0] == "201 Created" and statuses[1] == "400" and statuses[2] == "404"
    assert result["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert client.get("/Patient").json()["total"] == 1


def test_transaction_response_full_urls_and_minimal(client):
    bundle = _transaction({"resource": patient(), "request": {"method": "POST", "url": "Patient"}})
    r = client.post("/", json=bundle, headers={"Prefer": "return=minimal"})
    entry = r.json()["entry"][0]
    assert "resource" not in entry and entry["response"]["etag"] == 'W/"1"'
    r = client.post("/", json=bundle)
    entry = r.json()["entry"][0]
    assert entry["fullUrl"] == f"{BASE}/Patient/{entry['resource']['id']}"


def test_bundle_type_must_be_batch_or_transaction(client):
    assert client.post("/", json={"resourceType": "Bundle", "type": "collection"}).status_code == 400
    assert client.post("/", json=patient()).status_code == 400
    bad_entry = _transaction({"resource": patient()})
    assert client.post("/", json=bad_entry).status_code == 400


def test_bundle_can_be_stored_as_a_resource(client):
    r = client.post(
        "/Bundle", json={"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient()}]}
    )
    assert r.status_code == 201
