"""Chains, _has, _include/_revinclude, _sort with paging, number/quantity, modifiers. The tests
that only read the ``world`` share it, stored once per backend for the module; those that change
it take ``fresh_world``, on a store of its own. The composite searches share that store too
(their CodeSystems are apart from the world's resources); the value-set searches do not (their
Conditions would be found with the world's)."""

from __future__ import annotations

import pytest
from support import TestClient, make_client

MATRICULE = "urn:oid:1.3.182.4.4"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def _put(client, resource: dict) -> None:
    r = client.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
    assert r.status_code in (200, 201), r.text


def _store_world(client: TestClient) -> TestClient:
    """Two GPs, three patients, MR care teams, conditions, encounters."""
    _put(client, {"resourceType": "Organization", "id": "cab", "name": "Cabinet du Centre"})
    for pid, family, born in (("dr-weber", "Weber", "1970"), ("dr-hoff", "Hoffmann", "1980")):
        _put(client, {"resourceType": "Practitioner", "id": pid, "name": [{"family": family}], "birthDate": born})
    _put(
        client,
        {
            "resourceType": "PractitionerRole",
            "id": "role-weber",
            "practitioner": {"reference": "Practitioner/dr-weber"},
            "organization": {"reference": "Organization/cab"},
        },
    )
    patients = [
        ("marie", "Schmit", "1958-03-14", "1958031412727", "dr-weber"),
        ("jean", "Wagner", "1941-07-22", "1941072204378", "dr-weber"),
        ("luc", "Reding", "1965-09-30", "1965093031176", "dr-hoff"),
    ]
    for pid, family, born, matricule, gp in patients:
        _put(
            client,
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": family}],
                "birthDate": born,
                "identifier": [
                    {
                        "system": MATRICULE,
                        "value": matricule,
                        "type": {"coding": [{"system": V2_0203, "code": "NI"}]},
                    }
                ],
                "generalPractitioner": [{"reference": f"Practitioner/{gp}"}],
                "managingOrganization": {"reference": "Organization/cab"},
            },
        )
        _put(
            client,
            {
                "resourceType": "CareTeam",
                "id": f"ct-{pid}",
                "status": "active",
                "subject": {"reference": f"Patient/{pid}"},
                "participant": [{"member": {"reference": f"Practitioner/{gp}"}}],
            },
        )
    conditions = [("c1", "marie", "G35", 40), ("c2", "jean", "G20", 75), ("c3", "luc", "E11.9", 50)]
    for cid, pid, code, age in conditions:
        _put(
            client,
            {
                "resourceType": "Condition",
                "id": cid,
                "subject": {"reference": f"Patient/{pid}"},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}], "text": f"ALD {code}"},
                "onsetAge": {"value": age, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"},
            },
        )
    _put(
        client,
        {
            "resourceType": "Encounter",
            "id": "enc1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/marie"},
            "length": {"value": 15, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"},
        },
    )
    _put(
        client,
        {
            "resourceType": "Coverage",
            "id": "cov-by-identifier",
            "status": "active",
            "beneficiary": {"identifier": {"system": MATRICULE, "value": "1958031412727"}},
            "payor": [{"display": "CNS"}],
        },
    )
    _put(
        client,
        {"resourceType": "ValueSet", "id": "vs1", "url": "https://example.lu/fhir/ValueSet/test", "status": "active"},
    )
    return client


@pytest.fixture(scope="module")
def world(shared_client: TestClient) -> TestClient:
    return _store_world(shared_client)


@pytest.fixture
def fresh_world(client: TestClient) -> TestClient:
    return _store_world(client)


def ids(client, url: str, mode: str = "match") -> list[str]:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return sorted(e["resource"]["id"] for e in r.json().get("entry", []) if e["search"]["mode"] == mode)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"/CareTeam?subject:Patient.identifier={MATRICULE}|1958031412727", ["ct-marie"]),
        ("/CareTeam?subject.name=wagner", ["ct-jean"]),
        ("/CareTeam?subject:Patient.general-practitioner:Practitioner.name=weber", ["ct-jean", "ct-marie"]),
        ("/CareTeam?subject:Patient.organization.name=cabinet", ["ct-jean", "ct-luc", "ct-marie"]),
        ("/Condition?subject:Patient.birthdate=lt1950", ["c2"]),
        ("/Patient?_has:Condition:subject:code=G35", ["marie"]),
        ("/Patient?_has:Condition:subject:code=G35,G20", ["jean", "marie"]),
        ("/Patient?_has:CareTeam:subject:participant=Practitioner/dr-hoff", ["luc"]),
        ("/Practitioner?_has:Patient:general-practitioner:_has:Condition:subject:code=G20", ["dr-weber"]),
        ("/Practitioner?_has:PractitionerRole:practitioner:organization.name=cabinet", ["dr-weber"]),
        ("/Patient?_has:Condition:subject:code=X99", []),
    ],
)
def test_chains_and_reverse_chains(world, url, expected):
    assert ids(world, url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/Condition?onset-age=40", ["c1"]),
        ("/Condition?onset-age=gt45", ["c2", "c3"]),
        ("/Condition?onset-age=le50|http://unitsofmeasure.org|a", ["c1", "c3"]),
        ("/Condition?onset-age=40|http://unitsofmeasure.org|min", []),
        ("/Encounter?length=ge15", ["enc1"]),
        ("/Encounter?length=ap14", ["enc1"]),
        ("/Condition?code:text=ald g3", ["c1"]),
        (f"/Patient?identifier:of-type={V2_0203}|NI|1941072204378", ["jean"]),
        (f"/Patient?identifier:of-type={V2_0203}|MR|1941072204378", []),
        (f"/Coverage?beneficiary:identifier={MATRICULE}|1958031412727", ["cov-by-identifier"]),
        ("/ValueSet?url=https://example.lu/fhir/ValueSet/test", ["vs1"]),
        ("/ValueSet?url:below=https://example.lu/fhir", ["vs1"]),
        ("/ValueSet?url:below=https://example.lu/fhir/CodeSystem", []),
        ("/ValueSet?url:above=https://example.lu/fhir/ValueSet/test/v2", ["vs1"]),
        ("/Condition?onset-age:missing=false", ["c1", "c2", "c3"]),
        ("/Encounter?length:missing=true", []),
        ("/Coverage?beneficiary:missing=true", ["cov-by-identifier"]),
    ],
)
def test_number_quantity_and_modifiers(world, url, expected):
    assert ids(world, url) == expected


def test_include_and_revinclude(world):
    r = world.get("/CareTeam?subject=marie&_include=CareTeam:subject&_include=CareTeam:participant")
    bundle = r.json()
    assert bundle["total"] == 1
    assert ids(world, "/CareTeam?subject=marie&_include=CareTeam:subject", "include") == ["marie"]
    included = ids(world, "/CareTeam?_include=CareTeam:participant:Practitioner&_count=10", "include")
    assert included == ["dr-hoff", "dr-weber"]  # each once, though dr-weber is in two care teams
    rev = ids(world, "/Patient?_id=marie&_revinclude=Condition:subject&_revinclude=CareTeam:subject", "include")
    assert rev == ["c1", "ct-marie"]
    # includes do not count toward _count
    page = world.get("/CareTeam?_count=1&_include=CareTeam:subject").json()
    modes = [e["search"]["mode"] for e in page["entry"]]
    assert modes == ["match", "include"]


def test_include_iterate(world):
    url = "/Condition?code=G35&_include=Condition:subject&_include:iterate=Patient:general-practitioner"
    assert ids(world, url, "include") == ["dr-weber", "marie"]
    without = "/Condition?code=G35&_include=Condition:subject&_include=Patient:general-practitioner"
    assert world.get(without).status_code == 400  # a non-iterate _include must start at the searched type
    rev = "/Practitioner?_id=dr-hoff&_revinclude=Patient:general-practitioner&_revinclude:iterate=Condition:subject"
    assert ids(world, rev, "include") == ["c3", "luc"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("birthdate", ["jean", "marie", "luc"]),
        ("-birthdate", ["luc", "marie", "jean"]),
        ("family", ["luc", "marie", "jean"]),
        ("-family", ["jean", "marie", "luc"]),
        ("_id", ["jean", "luc", "marie"]),
        ("general-practitioner,-birthdate", ["luc", "marie", "jean"]),
    ],
)
def test_sort(world, sort, expected):
    r = world.get(f"/Patient?_sort={sort}")
    assert [e["resource"]["id"] for e in r.json()["entry"]] == expected


@pytest.mark.parametrize(
    "sort", ["birthdate", "-birthdate", "family", "-_lastUpdated", "general-practitioner,-birthdate"]
)
def test_sorted_paging_walks_forward_and_back(world, sort):
    full = [e["resource"]["id"] for e in world.get(f"/Patient?_sort={sort}").json()["entry"]]
    seen, url, pages = [], f"/Patient?_sort={sort}&_count=1", []
    while url:
        bundle = world.get(url).json()
        pages.append(bundle)
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert seen == full
    back = next(link["url"] for link in pages[-1]["link"] if link["relation"] == "previous")
    assert [e["resource"]["id"] for e in world.get(back).json()["entry"]] == [full[-2]]


def test_sort_missing_values_last(fresh_world):
    _put(fresh_world, {"resourceType": "Patient", "id": "nobirth", "name": [{"family": "Aaa"}]})
    assert [e["resource"]["id"] for e in fresh_world.get("/Patient?_sort=birthdate").json()["entry"]][-1] == "nobirth"
    assert [e["resource"]["id"] for e in fresh_world.get("/Patient?_sort=-birthdate").json()["entry"]][-1] == "nobirth"


@pytest.mark.parametrize(
    "url",
    [
        "/Patient?_sort=shoe-size",
        "/Patient?_include=Patient:name",
        "/Patient?_include=Patient",
        "/Patient?_contained=true",
        "/CareTeam?status.name=x",
        "/Patient?_has:Condition:code:code=x",
        "/Patient?_cursor=garbage",
        "/Patient?_has:Condition=x",
        "/Condition?onset-age=abc",
        "/Patient?identifier:of-type=onlytwo|parts",
        "/CareTeam?subject:Practitioner=x",
    ],
)
def test_malformed_advanced_searches_are_400(world, url):
    r = world.get(url, headers={"Prefer": "handling=strict"})
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"


def test_deleted_resources_break_chains(fresh_world):
    fresh_world.delete("/Patient/marie")
    assert ids(fresh_world, "/CareTeam?subject.name=schmit") == []
    assert ids(fresh_world, "/CareTeam?subject=marie&_include=CareTeam:subject", "include") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("context-type-value=focus$http://snomed.info/sct|394814009", ["cs-gp"]),
        ("context-type-value=focus$394814009", ["cs-gp"]),
        ("context-type-value=http://terminology.hl7.org/CodeSystem/usage-context-type|focus$394537008", ["cs-paed"]),
        ("context-type-value=focus$394814009,focus$394537008", ["cs-gp", "cs-paed"]),
        ("context-type-value=venue$394814009", []),
        ("context-type-value:missing=true", ["cs-none"]),
    ],
)
def test_composite(shared_client, query, expected):
    for cid, specialty in (("cs-gp", "394814009"), ("cs-paed", "394537008"), ("cs-none", None)):
        resource = {
            "resourceType": "CodeSystem",
            "id": cid,
            "url": f"https://example.lu/CodeSystem/{cid}",
            "status": "active",
            "content": "not-present",
        }
        if specialty:
            resource["useContext"] = [
                {
                    "code": {"system": "http://terminology.hl7.org/CodeSystem/usage-context-type", "code": "focus"},
                    "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": specialty}]},
                }
            ]
        _put(shared_client, resource)
    found = ids(shared_client, f"/CodeSystem?{query}&url:below=https://example.lu/CodeSystem")
    assert found == expected


def test_composite_needs_all_parts(shared_client):
    r = shared_client.get("/CodeSystem?context-type-value=focus")
    assert r.status_code == 400 and "'$'" in r.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("code:in=https://fhir.mr.lu/ValueSet/icd10-ald-qualifying", ["ald-ms", "ald-parkinson"]),
        ("code:not-in=https://fhir.mr.lu/ValueSet/icd10-ald-qualifying", ["flu"]),
        ("code:in=https://fhir.mr.lu/ValueSet/icd10-ald-qualifying&code=G35", ["ald-ms"]),
    ],
)
def test_token_in_and_not_in_value_sets(client, query, expected):
    for cid, code in (("ald-ms", "G35"), ("ald-parkinson", "G20"), ("flu", "J11.1")):
        condition = {
            "resourceType": "Condition",
            "id": cid,
            "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]},
        }
        _put(client, condition)
    assert ids(client, f"/Condition?{query}") == expected


def test_in_unknown_value_set_is_400(shared_client):
    r = shared_client.get("/Condition?code:in=https://example.lu/ValueSet/nothing")
    assert r.status_code == 400 and "code" in r.json()["issue"][0]["diagnostics"]


def test_truncated_includes_are_reported(tmp_path, store_settings):
    with make_client(tmp_path, max_included=2, **store_settings) as client:  # a small fan-out limit
        for i in range(3):
            _put(client, {"resourceType": "Condition", "id": f"c{i}", "subject": {"reference": "Patient/p"}})
        _put(client, {"resourceType": "Patient", "id": "p"})
        bundle = client.get("/Patient?_id=p&_revinclude=Condition:subject").json()
        outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
        assert outcome and "stopped at 2" in outcome[0]["resource"]["issue"][0]["diagnostics"]
        complete = client.get("/Patient?_id=p&_include=Patient:organization").json()
        assert not [e for e in complete["entry"] if e["search"]["mode"] == "outcome"]
