"""Create, read, vread, update, delete and their headers (https://hl7.org/fhir/R4/http.html).
The refusals, which store nothing, share one app per backend (``shared_client``)."""

from __future__ import annotations

import pytest
from support import BASE, patient


def test_create_assigns_id_version_and_headers(client):
    r = client.post("/Patient", json=patient(id="ignored-client-id"))
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "ignored-client-id"
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"] == f"{BASE}/Patient/{body['id']}/_history/1"
    assert r.headers["last-modified"].endswith("GMT")
    assert r.headers["content-type"].startswith("application/fhir+json")


def test_read_returns_stored_resource(client):
    created = client.post("/Patient", json=patient()).json()
    r = client.get(f"/Patient/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    assert r.headers["etag"] == 'W/"1"'


def test_read_unknown_is_404_with_outcome(shared_client):
    r = shared_client.get("/Patient/nope")
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["code"] == "not-found"


def test_update_increments_version_and_keeps_history(client):
    created = client.post("/Patient", json=patient()).json()
    pid = created["id"]
    r = client.put(f"/Patient/{pid}", json=patient(family="Weber", id=pid))
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"
    assert r.headers["etag"] == 'W/"2"'
    assert client.get(f"/Patient/{pid}/_history/1").json()["name"][0]["family"] == "Schmit"
    assert client.get(f"/Patient/{pid}/_history/2").json()["name"][0]["family"] == "Weber"
    assert client.get(f"/Patient/{pid}/_history/3").status_code == 404


def test_update_as_create_with_client_id(client):
    r = client.put("/Patient/lu-client-1", json=patient(id="lu-client-1"))
    assert r.status_code == 201
    assert r.headers["location"] == f"{BASE}/Patient/lu-client-1/_history/1"
    assert client.get("/Patient/lu-client-1").status_code == 200


@pytest.mark.parametrize(
    ("url", "body", "status", "expression"),
    [
        ("/Patient/a", patient(id="b"), 400, "Patient.id"),
        ("/Patient/a", patient(), 400, "Patient.id"),
        ("/Patient/a", {"resourceType": "Practitioner", "id": "a"}, 400, "resourceType"),
        ("/Patient/a", patient(id="a", birthDate="2024-02-30"), 400, "Patient.birthDate"),
        ("/Patient/a", patient(id="a", favouriteColour="blue"), 400, "Patient.favouriteColour"),
        ("/Patient/a", patient(id="a", name=[{"given": "Marie"}]), 400, "Patient.name[0].given"),
        ("/Patient/a", patient(id="a", gender=""), 400, "Patient.gender"),
        ("/Patient/a", patient(id="a", telecom=[]), 400, "Patient.telecom"),
        ("/Patient/a", patient(id="a", active=None), 400, "Patient.active"),
    ],
)
def test_invalid_updates_name_the_element(shared_client, url, body, status, expression):
    r = shared_client.put(url, json=body)
    assert r.status_code == status
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(expression in " ".join(i.get("expression", [])) for i in outcome["issue"]), outcome
    assert shared_client.get(url).status_code == 404, "nothing may be stored"


def test_malformed_json_is_400(shared_client):
    r = shared_client.post(
        "/Patient", content=b'{"resourceType": "Patient",', headers={"content-type": "application/fhir+json"}
    )
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["issue"][0]["diagnostics"]


def test_wrong_resource_type_on_create_is_400(shared_client):
    r = shared_client.post("/Patient", json={"resourceType": "Organization", "name": "CNS"})
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["resourceType"]


def test_delete_then_read_is_410_and_history_shows_deletion(client):
    pid = client.post("/Patient", json=patient()).json()["id"]
    r = client.delete(f"/Patient/{pid}")
    assert r.status_code == 204
    assert r.headers["etag"] == 'W/"2"'
    assert client.get(f"/Patient/{pid}").status_code == 410
    assert client.get(f"/Patient/{pid}/_history/2").status_code == 410
    assert client.get(f"/Patient/{pid}/_history/1").status_code == 200
    assert client.delete(f"/Patient/{pid}").status_code == 204  # idempotent, no new version
    history = client.get(f"/Patient/{pid}/_history").json()
    assert history["total"] == 2
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]
    search = client.get("/Patient").json()
    assert search["total"] == 0


def test_update_after_delete_recreates_with_next_version(client):
    client.put("/Patient/p1", json=patient(id="p1"))
    client.delete("/Patient/p1")
    r = client.put("/Patient/p1", json=patient(id="p1"))
    assert r.status_code == 201
    assert r.json()["meta"]["versionId"] == "3"


def test_meta_profile_and_tags_are_kept_but_version_is_servers(client):
    body = patient(meta={"versionId": "99", "lastUpdated": "2000-01-01T00:00:00Z", "tag": [{"code": "demo"}]})
    created = client.post("/Patient", json=body).json()
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["lastUpdated"] != "2000-01-01T00:00:00Z"
    assert created["meta"]["tag"] == [{"code": "demo"}]
