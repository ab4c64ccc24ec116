"""A reference parameter with several values (``participant=Practitioner/x,PractitionerRole/y``):
an OR of typed references. The access computation asks exactly this for every clinician
request, so on SQLite it must also seek the index by id instead of scanning the parameter."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from support import make_client

TEAMS = {
    # team id: its participants
    "t-prac-x": ["Practitioner/x"],
    "t-role-x": ["PractitionerRole/x"],  # same id, other type: must not match Practitioner/x
    "t-prac-y": ["Practitioner/y"],
    "t-both": ["Practitioner/z", "PractitionerRole/y"],
    "t-none": ["Practitioner/w"],
}


def put_teams(client):
    for team_id, members in TEAMS.items():
        body = {
            "resourceType": "CareTeam",
            "id": team_id,
            "status": "active",
            "participant": [{"member": {"reference": m}} for m in members],
        }
        assert client.put(f"/CareTeam/{team_id}", json=body).status_code == 201
    return client


@pytest.fixture
def teams(client):
    return put_teams(client)


@pytest.fixture
def sqlite_teams(tmp_path, seeded_store):
    shutil.copy(seeded_store, tmp_path / "fhir.sqlite3")
    with make_client(tmp_path) as client:
        yield put_teams(client)


def matches(client, query: str) -> list[str]:
    r = client.get(f"/CareTeam?{query}&_count=100")
    assert r.status_code == 200, r.text
    return sorted(e["resource"]["id"] for e in r.json().get("entry", []))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("participant=Practitioner/x,Practitioner/y", ["t-prac-x", "t-prac-y"]),
        ("participant=Practitioner/x,PractitionerRole/y", ["t-both", "t-prac-x"]),
        ("participant=PractitionerRole/x,PractitionerRole/y", ["t-both", "t-role-x"]),
        ("participant=Practitioner/x,PractitionerRole/x", ["t-prac-x", "t-role-x"]),
        ("participant=Practitioner/x,Practitioner/x", ["t-prac-x"]),
        ("participant=x,y", ["t-both", "t-prac-x", "t-prac-y", "t-role-x"]),  # untyped ids
        ("participant:Practitioner=x,y", ["t-prac-x", "t-prac-y"]),
        ("participant=http://elsewhere.example/fhir/Practitioner/q,Practitioner/x", ["t-prac-x"]),
        ("participant=Practitioner/nobody,Practitioner/x", ["t-prac-x"]),
        ("participant=Practitioner/x,PractitionerRole/y&_id=t-both", ["t-both"]),
    ],
)
def test_reference_lists_are_or_of_typed_references(teams, query, expected):
    assert matches(teams, query) == expected


def test_sqlite_seeks_the_reference_index_by_target_id(sqlite_teams):
    """The plan of the search SQL must search ``idx_reference`` on (type, param, target_id):
    without the leading ``target_id IN`` it searched on (type, param) alone — every row of the
    parameter (~100 ms for a practitioner on a 1M store)."""
    teams = sqlite_teams
    store = teams.app.state.repository.store
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        assert matches(teams, "participant=Practitioner/x,PractitionerRole/y") == ["t-both", "t-prac-x"]
    finally:
        store._conn.set_trace_callback(None)
    searches = [s for s in statements if "idx_reference" in s and s.lstrip().startswith("SELECT")]
    assert searches, statements
    plan = " | ".join(row[3] for row in store._conn.execute("EXPLAIN QUERY PLAN " + searches[0]))
    assert "idx_reference_target_rid (type=? AND param=? AND target_id=?)" in plan, plan


def test_the_plan_check_would_see_a_scan():
    """The assertion above can fail: the same index, asked for the OR of pairs alone, is
    searched on (type, param) only."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE idx_reference (rid, type, param, target_id, target_type, url)")
    conn.execute("CREATE INDEX idx_reference_target_rid ON idx_reference (type, param, target_id, target_type, rid)")
    sql = (
        "SELECT rid FROM idx_reference WHERE type = 'CareTeam' AND param = 'participant' AND "
        "((target_id = 'x' AND target_type = 'Practitioner') OR (target_id = 'y' AND target_type = 'PractitionerRole'))"
    )
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "target_id=?" not in plan, plan
