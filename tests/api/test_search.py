"""Search basics: parameter types, paging, _summary/_elements, unknown parameters. The tests
that only read ``people`` share them, stored once per backend for the module; those that change
them take ``fresh_people``, on a store of their own."""

from __future__ import annotations

import pytest
from support import TestClient, patient

MATRICULE = "urn:oid:1.3.182.4.4"


def _store_people(client: TestClient) -> TestClient:
    rows = [
        ("p1", "Müller", "Léa", "female", "1980-02-29", "1893120105732"),
        ("p2", "Muller", "Jean", "male", "1975-12-31", "1975123100117"),
        ("p3", "Schmit", "Marie", "female", "2016-05-09", "2016050921822"),
        ("p4", "Weber", "Claude", "male", "1941-07-22", "1941072204378"),
    ]
    for pid, family, given, gender, birth, matricule in rows:
        body = patient(
            family,
            given,
            id=pid,
            gender=gender,
            birthDate=birth,
            identifier=[{"system": MATRICULE, "value": matricule}],
        )
        assert client.put(f"/Patient/{pid}", json=body).status_code == 201
    client.put(
        "/Practitioner/dr1", json={"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Hoffmann"}]}
    )
    client.put(
        "/CareTeam/ct1",
        json={
            "resourceType": "CareTeam",
            "id": "ct1",
            "status": "active",
            "subject": {"reference": "Patient/p1"},
            "period": {"start": "2024-12-01"},
            "participant": [{"member": {"reference": "Practitioner/dr1"}}],
        },
    )
    return client


@pytest.fixture(scope="module")
def people(shared_client: TestClient) -> TestClient:
    return _store_people(shared_client)


@pytest.fixture
def fresh_people(client: TestClient) -> TestClient:
    return _store_people(client)


def ids(client, url: str) -> list[str]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["type"] == "searchset"
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=muller", ["p1", "p2"]),
        ("name=MÜL", ["p1", "p2"]),
        ("family:exact=Müller", ["p1"]),
        ("name:contains=eb", ["p4"]),
        ("given=lea", ["p1"]),
        ("gender=female", ["p1", "p3"]),
        ("gender:not=female", ["p2", "p4"]),
        (f"identifier={MATRICULE}|1893120105732", ["p1"]),
        ("identifier=1941072204378", ["p4"]),
        ("identifier=|1941072204378", []),
        (f"identifier={MATRICULE}|", ["p1", "p2", "p3", "p4"]),
        ("birthdate=1980-02-29", ["p1"]),
        ("birthdate=1980-02", ["p1"]),
        ("birthdate=1980", ["p1"]),
        ("birthdate=lt1976-01-01", ["p2", "p4"]),
        ("birthdate=ge2016-05-09", ["p3"]),
        ("birthdate=gt1975-12-30&birthdate=lt1981", ["p1", "p2"]),
        ("birthdate=sa2000", ["p3"]),
        ("birthdate=eb1942", ["p4"]),
        ("birthdate=ne1980-02-29&gender=female", ["p3"]),
        ("gender=male,female&name=weber", ["p4"]),
        ("_id=p1,p3", ["p1", "p3"]),
        ("family:missing=true", []),
        ("deceased=true", []),
        ("deceased=false", ["p1", "p2", "p3", "p4"]),
    ],
)
def test_patient_search(people, query, expected):
    assert ids(people, f"/Patient?{query}") == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("subject=Patient/p1", ["ct1"]),
        ("subject=p1", ["ct1"]),
        ("patient=p1", ["ct1"]),
        ("subject:Patient=p1", ["ct1"]),
        ("subject=Patient/p2", []),
        ("participant=Practitioner/dr1", ["ct1"]),
        ("subject=http://testserver/Patient/p1", ["ct1"]),
        ("date=2024-12-01", []),  # eq: the open period is not contained in that day
        ("date=ge2024-12-01", ["ct1"]),
        ("date=ge2030-01-01", ["ct1"]),  # open period: still running
        ("date=lt2024-12-01", []),
        ("status=active", ["ct1"]),
    ],
)
def test_care_team_search(people, query, expected):
    assert ids(people, f"/CareTeam?{query}") == expected


def test_last_updated_and_post_search(people):
    assert ids(people, "/Patient?_lastUpdated=gt2000-01-01") == ["p1", "p2", "p3", "p4"]
    assert ids(people, "/Patient?_lastUpdated=lt2000-01-01") == []
    r = people.post("/Patient/_search", data={"gender": "female"})
    assert r.status_code == 200
    assert sorted(e["resource"]["id"] for e in r.json()["entry"]) == ["p1", "p3"]


def test_paging_links_walk_every_match_once(people):
    seen: list[str] = []
    url = "/Patient?_count=1"
    pages = 0
    while url:
        bundle = people.get(url).json()
        assert bundle["total"] == 4
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        url = links.get("next", "").replace("http://testserver", "")
        pages += 1
    assert sorted(seen) == ["p1", "p2", "p3", "p4"] and len(seen) == 4 and pages == 4
    last = people.get("/Patient?_count=2").json()
    second = people.get(next(link["url"] for link in last["link"] if link["relation"] == "next")).json()
    back = people.get(next(link["url"] for link in second["link"] if link["relation"] == "previous")).json()
    assert [e["resource"]["id"] for e in back["entry"]] == [e["resource"]["id"] for e in last["entry"]]


def test_paging_is_stable_while_data_changes(fresh_people):
    first = fresh_people.get("/Patient?_count=2").json()
    first_ids = [e["resource"]["id"] for e in first["entry"]]
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    fresh_people.delete(f"/Patient/{first_ids[0]}")  # a deletion on an earlier page
    fresh_people.post("/Patient", json=patient("Zeta"))  # an insertion
    second = fresh_people.get(next_url).json()
    second_ids = [e["resource"]["id"] for e in second["entry"]]
    assert not set(first_ids) & set(second_ids)
    assert second_ids == ["p3", "p4"]


def test_count_is_capped_and_zero_gives_total_only(people):
    bundle = people.get("/Patient?_count=100000").json()
    assert len(bundle["entry"]) == 4
    bundle = people.get("/Patient?_count=0").json()
    assert bundle["total"] == 4 and "entry" not in bundle


def test_summary_count_and_total_none(people):
    bundle = people.get("/Patient?_summary=count").json()
    assert bundle["total"] == 4 and "entry" not in bundle
    bundle = people.get("/Patient?_total=none").json()
    assert "total" not in bundle and len(bundle["entry"]) == 4


def test_summary_and_elements_subset_resources(fresh_people):
    fresh_people.put(
        "/Patient/p5",
        json=patient(
            id="p5",
            text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
            photo=[{"title": "me"}],
        ),
    )
    read = fresh_people.get("/Patient/p5?_summary=true").json()
    assert "photo" not in read and "text" not in read and "name" in read
    assert {"code": "SUBSETTED", "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"} in read["meta"][
        "tag"
    ]
    text = fresh_people.get("/Patient/p5?_summary=text").json()
    assert "text" in text and "name" not in text
    data = fresh_people.get("/Patient/p5?_summary=data").json()
    assert "text" not in data and "photo" in data
    elements = fresh_people.get("/Patient?_id=p5&_elements=birthDate,gender").json()["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta"}  # p5 has neither element
    elements = fresh_people.get("/Patient?_id=p1&_elements=birthDate").json()["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta", "birthDate"}
    assert fresh_people.get("/Patient/p5?_summary=banana").status_code == 400


def test_unknown_parameter_lenient_and_strict(people):
    bundle = people.get("/Patient?shoe-size=42&gender=male").json()
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1 and "shoe-size" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    assert bundle["total"] == 2
    r = people.get("/Patient?shoe-size=42", headers={"Prefer": "handling=strict"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["shoe-size"]


@pytest.mark.parametrize(
    "query",
    [
        "birthdate=1980-13",
        "birthdate=xx2000",
        "_count=-1",
        "_count=abc",
        "gender:fuzzy=x",
        "family:missing=maybe",
        "_id=bad id!",
        "subject=a/b/c",
    ],
)
def test_malformed_values_are_400_naming_the_parameter(people, query):
    url = "/CareTeam?" + query if query.startswith("subject") else "/Patient?" + query
    r = people.get(url)
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert query.split("=")[0].split(":")[0] in r.json()["issue"][0]["diagnostics"]


def test_self_link_reflects_applied_parameters(people):
    bundle = people.get("/Patient?gender=female&_count=5&bogus=1").json()
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert self_link == "http://testserver/Patient?gender=female&_count=5"


def test_last_updated_equality_is_bounded_on_both_sides(client):
    """eq on one stored instant needs both bounds on the same field (a MongoDB filter once kept one)."""
    stamp = client.post("/Patient", json=patient()).json()["meta"]["lastUpdated"]
    second = stamp[:19] + "Z"  # the second it was written in (UTC): a range containing it
    assert client.get(f"/Patient?_lastUpdated={second}").json()["total"] == 1
    later = f"{int(second[:4]) + 1}{second[4:]}"
    assert client.get(f"/Patient?_lastUpdated={later}").json()["total"] == 0
    assert client.get(f"/Patient?_lastUpdated=ne{second}").json()["total"] == 0
