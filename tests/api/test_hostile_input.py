"""Hostile or broken input gets a clear OperationOutcome and leaves the store untouched."""

from __future__ import annotations

import pytest
from support import patient


def _nested(depth: int) -> bytes:
    return b'{"resourceType":"Patient","extension":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (_nested(5000), 400),
        (b"\xff\xfe\x00garbage", 400),
        (b"[1, 2, 3]", 400),
        (b'"just a string"', 400),
        (b"", 400),
        (b'{"resourceType": "Patient", "birthDate": 19800229}', 400),
        (b'{"resourceType": "Patient", "multipleBirthInteger": 1e400}', 400),
        (b'{"resourceType": "Patient", "name": [{"family": "' + b"x" * 100_000 + b'"}]}', 201),
    ],
)
def test_broken_bodies(client, body, status):
    r = client.post("/Patient", content=body, headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == status, r.text[:300]
    if status >= 400:
        assert r.json()["resourceType"] == "OperationOutcome"
        assert client.get("/Patient").json()["total"] == 0


def test_too_many_search_values(client):
    r = client.get("/Patient?_id=" + ",".join(f"id{i}" for i in range(5000)))
    assert r.status_code == 400
    assert "at most" in r.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("query", ["name=%00", "name='; DROP TABLE resources; --", "identifier=%25%5F|%25", "name=\\"])
def test_sql_metacharacters_are_just_values(client, query):
    client.post("/Patient", json=patient())
    r = client.get(f"/Patient?{query}")
    assert r.status_code == 200
    assert r.json()["total"] == 0
    assert client.get("/Patient").json()["total"] == 1


def test_path_traversal_and_odd_ids(client):
    assert client.get("/Patient/..%2F..%2Fetc%2Fpasswd").status_code == 404
    r = client.put("/Patient/" + "a" * 65, json=patient(id="a" * 65))
    assert r.status_code == 400
    r = client.put("/Patient/bad_id", json=patient(id="bad_id"))
    assert r.status_code == 400


def test_bundle_entry_limit(tmp_path):
    from support import make_client

    with make_client(tmp_path, max_bundle_entries=3) as small:
        entries = [{"resource": patient(), "request": {"method": "POST", "url": "Patient"}} for _ in range(4)]
        r = small.post("/", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
        assert r.status_code == 413 and "at most 3" in r.json()["issue"][0]["diagnostics"]
        r = small.post("/", json={"resourceType": "Bundle", "type": "transaction", "entry": entries[:3]})
        assert r.status_code == 200
