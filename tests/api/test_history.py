"""History at instance, type and system level, with _since, _count and paging."""

from __future__ import annotations

from urllib.parse import quote

from support import patient


def _entries(bundle: dict) -> list[tuple[str, str, str]]:
    return [(e["request"]["method"], e["request"]["url"], e["response"]["etag"]) for e in bundle.get("entry", [])]


def test_instance_history_newest_first(client):
    client.put("/Patient/h1", json=patient(id="h1"))
    client.put("/Patient/h1", json=patient(id="h1", family="Two"))
    client.delete("/Patient/h1")
    bundle = client.get("/Patient/h1/_history").json()
    assert bundle["type"] == "history" and bundle["total"] == 3
    assert _entries(bundle) == [
        ("DELETE", "Patient/h1", 'W/"3"'),
        ("PUT", "Patient/h1", 'W/"2"'),
        ("PUT", "Patient/h1", 'W/"1"'),
    ]
    assert bundle["entry"][1]["resource"]["name"][0]["family"] == "Two"
    assert bundle["entry"][2]["response"]["status"] == "200 OK"


def test_history_of_unknown_resource_is_404(client):
    assert client.get("/Patient/never/_history").status_code == 404


def test_type_and_system_history(client):
    first = client.post("/Patient", json=patient()).json()["meta"]["lastUpdated"]
    client.post("/Organization", json={"resourceType": "Organization", "name": "CNS"})
    client.post("/Patient", json=patient(family="Weber"))
    assert client.get("/Patient/_history").json()["total"] == 2
    assert client.get("/_history").json()["total"] > 3  # published terminology and search parameters too
    system = client.get(f"/_history?_since={quote(first)}").json()
    assert system["total"] == 3
    assert [e["resource"]["resourceType"] for e in system["entry"]] == ["Patient", "Organization", "Patient"]
    assert system["entry"][0]["response"]["status"] == "201 Created"


def test_since_and_count_and_paging(client):
    client.post("/Patient", json=patient(family="Before"))
    cut = client.post("/Patient", json=patient(family="Cut")).json()["meta"]["lastUpdated"]
    for i in range(5):
        client.post("/Patient", json=patient(family=f"After{i}"))
    since = client.get(f"/Patient/_history?_since={quote(cut)}").json()
    assert since["total"] == 6
    families = [e["resource"]["name"][0]["family"] for e in since["entry"]]
    assert "Before" not in families and families[-1] == "Cut"
    page = client.get(f"/_history?_since={quote(cut)}&_count=4").json()
    assert len(page["entry"]) == 4
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    rest = client.get(next_url).json()
    assert len(rest["entry"]) == 2
    assert {e["resource"]["id"] for e in rest["entry"]}.isdisjoint({e["resource"]["id"] for e in page["entry"]})
    assert client.get("/_history?_since=yesterday").status_code == 400
    assert client.get("/_history?_count=lots").status_code == 400
