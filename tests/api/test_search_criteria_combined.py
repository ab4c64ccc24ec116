"""Searches with several criteria, one of them unselective (``status=active`` matches most
resources): the same matches on both backends, and on SQLite a plan that starts from the
selective criterion and tests the others row by row (``store/sqlite_search.start_from_most_selective``)."""

from __future__ import annotations

import shutil

import pytest
from support import make_client

MATRICULE = "urn:oid:1.3.182.4.4"


def put_world(client):
    for pid in ("a", "b"):
        body = {"resourceType": "Patient", "id": pid, "identifier": [{"system": MATRICULE, "value": f"19800101{pid}"}]}
        assert client.put(f"/Patient/{pid}", json=body).status_code == 201
    teams = {  # id: subject, status, participant
        "a-active": ("a", "active", "Practitioner/x"),
        "a-inactive": ("a", "inactive", "Practitioner/x"),
        "a-active-y": ("a", "active", "Practitioner/y"),
        "b-active": ("b", "active", "Practitioner/x"),
        "b-proposed": ("b", "proposed", "Practitioner/y"),
    }
    for team_id, (subject, status, member) in teams.items():
        body = {
            "resourceType": "CareTeam",
            "id": team_id,
            "status": status,
            "subject": {"reference": f"Patient/{subject}"},
            "participant": [{"member": {"reference": member}}],
        }
        assert client.put(f"/CareTeam/{team_id}", json=body).status_code == 201
    return client


@pytest.fixture
def world(client):
    return put_world(client)


def matches(client, query: str) -> tuple[list[str], int | None]:
    r = client.get(f"/CareTeam?{query}")
    assert r.status_code == 200, r.text
    bundle = r.json()
    return sorted(e["resource"]["id"] for e in bundle.get("entry", [])), bundle.get("total")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("subject=Patient/a&status=active", ["a-active", "a-active-y"]),
        ("status=active&subject=Patient/a", ["a-active", "a-active-y"]),
        ("subject=Patient/a&status=active&participant=Practitioner/x", ["a-active"]),
        ("subject=Patient/a&status=active,inactive&participant=Practitioner/x", ["a-active", "a-inactive"]),
        ("subject=Patient/b&status=active,proposed", ["b-active", "b-proposed"]),
        ("subject=Patient/a&status:not=active", ["a-inactive"]),
        ("_id=a-active,b-active,a-inactive&status=active", ["a-active", "b-active"]),
        ("_id=a-active&status=inactive", []),
        ("participant=Practitioner/y&status=active", ["a-active-y"]),
        ("subject:Patient.identifier=urn:oid:1.3.182.4.4|19800101b&status=active", ["b-active"]),
        ("subject=Patient/nobody&status=active", []),
        ("status=active&status=inactive", []),
    ],
)
def test_combined_criteria_match_on_every_backend(world, query, expected):
    found, total = matches(world, query)
    assert found == expected
    assert total == len(expected)


@pytest.fixture
def sqlite_world(tmp_path, seeded_store):
    shutil.copy(seeded_store, tmp_path / "fhir.sqlite3")
    with make_client(tmp_path) as client:
        yield put_world(client)


def test_sqlite_starts_from_the_reference_and_probes_the_status(sqlite_world):
    conn = sqlite_world.app.state.repository.store._conn
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        assert matches(sqlite_world, "status=active&subject=Patient/a") == (["a-active", "a-active-y"], 2)
    finally:
        conn.set_trace_callback(None)
    page = next(s for s in statements if "ORDER BY" in s and "FROM resources r" in s)
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + page))
    assert "idx_reference_target_rid (type=? AND param=? AND target_id=?" in plan, plan
    assert "idx_token_rid (rid=?" in plan, plan  # status tested per row, not listed in full
    assert "idx_token_code_rid" not in plan, plan


def test_sqlite_never_walks_every_resource_for_an_id_list(sqlite_world):
    """An ``_id`` list cannot be where the search starts (the type is made unindexable when an
    index criterion is there): starting from it walked all resources, 3 s on 1M."""
    client = sqlite_world
    conn = client.app.state.repository.store._conn
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        r = client.get("/Patient?_id=a,b&identifier=urn:oid:1.3.182.4.4|19800101a&_total=none")
        assert r.status_code == 200 and [e["resource"]["id"] for e in r.json()["entry"]] == ["a"]
        assert matches(client, "_id=a-active,b-active&status=active&subject=Patient/a") == (["a-active"], 1)
    finally:
        conn.set_trace_callback(None)
    pages = [s for s in statements if "ORDER BY" in s and "FROM resources r" in s]
    assert len(pages) == 2, statements
    for page in pages:
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + page))
        assert "SCAN r" not in plan, plan
