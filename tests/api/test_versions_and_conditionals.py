"""If-Match, If-None-Match, If-Modified-Since, Prefer, conditional create/update/delete, PATCH."""

from __future__ import annotations

from email.utils import formatdate

from support import patient

MATRICULE = "urn:oid:1.3.182.4.4"


def _identified(value: str, **extra: object) -> dict:
    return patient(identifier=[{"system": MATRICULE, "value": value}], **extra)


def test_if_match_mismatch_is_412_and_nothing_changes(client):
    pid = client.post("/Patient", json=patient()).json()["id"]
    r = client.put(f"/Patient/{pid}", json=patient(family="X", id=pid), headers={"If-Match": 'W/"7"'})
    assert r.status_code == 412
    assert r.json()["issue"][0]["code"] == "conflict"
    assert client.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "1"
    r = client.put(f"/Patient/{pid}", json=patient(family="X", id=pid), headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200
    assert r.json()["meta"]["versionId"] == "2"


def test_malformed_if_match_is_400(client):
    pid = client.post("/Patient", json=patient()).json()["id"]
    r = client.put(f"/Patient/{pid}", json=patient(id=pid), headers={"If-Match": "banana"})
    assert r.status_code == 400


def test_if_none_match_and_if_modified_since_give_304(client):
    created = client.post("/Patient", json=patient())
    pid = created.json()["id"]
    assert client.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert client.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"0"'}).status_code == 200
    later = formatdate(usegmt=True, timeval=__import__("time").time() + 60)
    earlier = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get(f"/Patient/{pid}", headers={"If-Modified-Since": later}).status_code == 304
    assert client.get(f"/Patient/{pid}", headers={"If-Modified-Since": earlier}).status_code == 200


def test_prefer_return(client):
    r = client.post("/Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b"" and "location" in r.headers
    r = client.post("/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 201 and r.json()["resourceType"] == "OperationOutcome"
    r = client.post("/Patient", json=patient(), headers={"Prefer": "return=representation"})
    assert r.json()["resourceType"] == "Patient"


def test_conditional_create(client):
    headers = {"If-None-Exist": f"identifier={MATRICULE}|1893120105732"}
    first = client.post("/Patient", json=_identified("1893120105732"), headers=headers)
    assert first.status_code == 201
    again = client.post("/Patient", json=_identified("1893120105732"), headers=headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    client.post("/Patient", json=_identified("1893120105732"))  # a duplicate made without the condition
    r = client.post("/Patient", json=_identified("1893120105732"), headers=headers)
    assert r.status_code == 412
    assert client.get("/Patient").json()["total"] == 2


def test_conditional_update(client):
    r = client.put(f"/Patient?identifier={MATRICULE}|1893120105732", json=_identified("1893120105732"))
    assert r.status_code == 201
    pid = r.json()["id"]
    r = client.put(f"/Patient?identifier={MATRICULE}|1893120105732", json=_identified("1893120105732", gender="female"))
    assert r.status_code == 200
    assert r.json()["id"] == pid and r.json()["meta"]["versionId"] == "2"
    client.post("/Patient", json=_identified("1893120105732"))
    r = client.put(f"/Patient?identifier={MATRICULE}|1893120105732", json=_identified("1893120105732"))
    assert r.status_code == 412


def test_conditional_update_needs_criteria(client):
    assert client.put("/Patient", json=patient()).status_code == 400


def test_conditional_delete(client):
    client.post("/Patient", json=_identified("1"))
    client.post("/Patient", json=_identified("2"))
    assert client.delete(f"/Patient?identifier={MATRICULE}|1").status_code == 204
    assert client.get("/Patient").json()["total"] == 1
    assert client.delete(f"/Patient?identifier={MATRICULE}|nobody").status_code == 204
    client.post("/Patient", json=_identified("2"))
    assert client.delete(f"/Patient?identifier={MATRICULE}|2").status_code == 412
    assert client.get("/Patient").json()["total"] == 2


def test_json_patch(client):
    pid = client.post("/Patient", json=patient()).json()["id"]
    ops = [
        {"op": "replace", "path": "/name/0/family", "value": "Hoffmann"},
        {"op": "add", "path": "/gender", "value": "female"},
    ]
    r = client.patch(f"/Patient/{pid}", json=ops, headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200
    assert r.json()["name"][0]["family"] == "Hoffmann" and r.json()["gender"] == "female"
    assert r.json()["meta"]["versionId"] == "2"
    assert client.get(f"/Patient/{pid}/_history").json()["entry"][0]["request"]["method"] == "PATCH"


def test_json_patch_failures_leave_resource_unchanged(client):
    pid = client.post("/Patient", json=patient()).json()["id"]
    headers = {"Content-Type": "application/json-patch+json"}
    failing_test = [{"op": "test", "path": "/name/0/family", "value": "Nope"}]
    assert client.patch(f"/Patient/{pid}", json=failing_test, headers=headers).status_code == 422
    invalid_result = [{"op": "add", "path": "/birthDate", "value": "not-a-date"}]
    r = client.patch(f"/Patient/{pid}", json=invalid_result, headers=headers)
    assert r.status_code == 400 and "Patient.birthDate" in r.json()["issue"][0]["expression"]
    change_id = [{"op": "replace", "path": "/id", "value": "other"}]
    assert client.patch(f"/Patient/{pid}", json=change_id, headers=headers).status_code == 422
    stale = [{"op": "add", "path": "/gender", "value": "male"}]
    assert client.patch(f"/Patient/{pid}", json=stale, headers={**headers, "If-Match": 'W/"9"'}).status_code == 412
    assert client.patch(f"/Patient/{pid}", json={"op": "add"}, headers=headers).status_code == 400
    assert client.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "1"


def test_patch_of_unknown_resource_is_404(client):
    r = client.patch("/Patient/nope", json=[], headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 404


def test_conditional_patch(client):
    client.post("/Patient", json=_identified("42"))
    ops = [{"op": "add", "path": "/gender", "value": "other"}]
    r = client.patch(
        f"/Patient?identifier={MATRICULE}|42", json=ops, headers={"Content-Type": "application/json-patch+json"}
    )
    assert r.status_code == 200 and r.json()["gender"] == "other"
