"""Patient/$everything on the demo data: the Patient, its compartment and what it refers to,
paged with ``_count`` across types, narrowed by ``_type`` and ``_since``. The tests that only
read share one app per backend (``shared_demo_client``); the one that writes has its own."""

from __future__ import annotations

import time

import pytest
from support import MARIE_RECORD

MARIE = "lu-patient-marie-schmit"


def _entries(bundle: dict, mode: str) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def _all_pages(client, url: str) -> tuple[list[str], list[str]]:
    matches, included = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        matches += _entries(bundle, "match")
        included += _entries(bundle, "include")
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return matches, included


def test_everything_is_the_patients_compartment_and_its_references(shared_demo_client) -> None:
    matches, included = _all_pages(shared_demo_client, f"/Patient/{MARIE}/$everything")
    assert set(matches) == MARIE_RECORD and len(matches) == len(MARIE_RECORD)
    assert matches[0] == f"Patient/{MARIE}"
    assert "PractitionerRole/lu-practitionerrole-claude-weber" in included
    assert not any(m.startswith("Patient/") and m != f"Patient/{MARIE}" for m in matches + included)


@pytest.mark.parametrize("count", [1, 2, 4])
def test_pages_cover_the_record_once(shared_demo_client, count: int) -> None:
    matches, _ = _all_pages(shared_demo_client, f"/Patient/{MARIE}/$everything?_count={count}")
    assert sorted(matches) == sorted(MARIE_RECORD)


def test_type_and_since_narrow_it(demo_client) -> None:
    matches, _ = _all_pages(demo_client, f"/Patient/{MARIE}/$everything?_type=Condition,Composition")
    assert set(matches) == {"Condition/lu-condition-marie-schmit-g35", "Composition/lu-composition-resume-marie-schmit"}
    time.sleep(0.01)
    cutoff = demo_client.get("/metadata").json()["date"]
    condition = demo_client.get("/Condition/lu-condition-marie-schmit-g35").json()
    assert demo_client.put(f"/Condition/{condition['id']}", json=condition).status_code == 200
    matches, _ = _all_pages(demo_client, f"/Patient/{MARIE}/$everything?_since={cutoff.replace('+', '%2B')}")
    assert matches == ["Condition/lu-condition-marie-schmit-g35"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("_type=Practitioner", 400),
        ("_count=0", 400),
        ("_count=x", 400),
        ("_cursor=99.x", 400),
        ("_since=notadate", 400),
    ],
)
def test_bad_parameters_get_400(shared_demo_client, query: str, status: int) -> None:
    response = shared_demo_client.get(f"/Patient/{MARIE}/$everything?{query}")
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_unknown_patient_gets_404(shared_demo_client) -> None:
    assert shared_demo_client.get("/Patient/nobody/$everything").status_code == 404
