"""What a professional may see is remembered between requests only while the store says no
CareTeam, Consent or PractitionerRole changed (security/visibility_cache.py), on SQLite. A
second server on the same file (another process in production: its own connections here)
must see a change at the next request, as the server that made it does; an unchanged store
must not be asked again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from security_kit import Tokens, bearer
from support import TestClient, make_client

from fhir_server.security.relationships import CareRelations
from fhir_server.security.visibility import Visibility
from fhir_server.security.visibility_cache import VisibilityCache
from fhir_server.store.sqlite import SqliteStore

MARIE = "lu-patient-marie-schmit"
WEBER = "lu-practitioner-claude-weber"  # Marie's MR
CONSENT = "lu-consent-dsp-marie-schmit"
CONDITION = "lu-condition-marie-schmit-g35"


@pytest.fixture
def two_servers(tmp_path) -> Iterator[tuple[TestClient, TestClient, Tokens]]:
    """Two servers with authentication on, on one SQLite file holding the demo data."""
    with make_client(tmp_path, auth=True, demo=True) as first, make_client(tmp_path, auth=True) as second:
        yield first, second, Tokens(tmp_path)


def deny_weber(client: TestClient, tokens: Tokens) -> None:
    """Marie's patient app adds a provision denying her MR."""
    headers = bearer(tokens.patient(MARIE))
    consent = client.get(f"/Consent/{CONSENT}", headers=headers).json()
    role = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]}
    actor = [{"role": role, "reference": {"reference": f"Practitioner/{WEBER}"}}]
    consent["provision"]["provision"] = [*consent["provision"].get("provision", []), {"type": "deny", "actor": actor}]
    assert client.put(f"/Consent/{CONSENT}", json=consent, headers=headers).status_code == 200


def reader_statements(client: TestClient, path: str, token: str) -> tuple[int, list[str]]:
    """The status of GET ``path`` and the SQL the server's reading connection ran for it."""
    conn = client.app.state.repository.store._conn
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        status = client.get(path, headers=bearer(token)).status_code
    finally:
        conn.set_trace_callback(None)
    return status, statements


def care_team_queries(statements: list[str]) -> list[str]:
    return [s for s in statements if "'CareTeam'" in s and "idx_reference" in s]


def test_a_consent_written_through_another_server_applies_at_the_next_request(two_servers) -> None:
    first, second, tokens = two_servers
    weber = tokens.practitioner(WEBER)
    assert first.get(f"/Condition/{CONDITION}", headers=bearer(weber)).status_code == 200
    assert first.get(f"/Condition/{CONDITION}", headers=bearer(weber)).status_code == 200  # now remembered
    deny_weber(second, tokens)
    assert first.get(f"/Condition/{CONDITION}", headers=bearer(weber)).status_code == 404
    assert first.get(f"/Patient/{MARIE}", headers=bearer(weber)).status_code == 404


def test_an_unchanged_store_is_not_asked_again_and_a_changed_one_is(two_servers) -> None:
    first, second, tokens = two_servers
    weber = tokens.practitioner(WEBER)
    status, statements = reader_statements(first, f"/Patient/{MARIE}", weber)
    assert status == 200 and care_team_queries(statements), "the first request computes"
    status, statements = reader_statements(first, f"/Patient/{MARIE}", weber)
    assert status == 200 and not care_team_queries(statements), "the second one remembers"
    assert any("max(seq) FROM history" in s for s in statements), "after asking the change marker"

    # a write of another type changes nothing the access depends on
    system = bearer(tokens.system("admin"))
    practitioner = second.get(f"/Practitioner/{WEBER}", headers=system).json()
    practitioner["gender"] = "other"
    assert second.put(f"/Practitioner/{WEBER}", json=practitioner, headers=system).status_code == 200
    _, statements = reader_statements(first, f"/Patient/{MARIE}", weber)
    assert not care_team_queries(statements)

    # a CareTeam written through the other server does
    team = second.get(f"/CareTeam?subject=Patient/{MARIE}", headers=system).json()["entry"][0]["resource"]
    team.setdefault("note", []).append({"text": "seen by the cache test"})
    assert second.put(f"/CareTeam/{team['id']}", json=team, headers=system).status_code == 200
    status, statements = reader_statements(first, f"/Patient/{MARIE}", weber)
    assert status == 200 and care_team_queries(statements)


def test_the_next_day_is_computed_afresh(two_servers, monkeypatch) -> None:
    """An MR relationship ends with its period: what was remembered yesterday does not carry over."""
    first, _, tokens = two_servers
    weber = tokens.practitioner(WEBER)
    today = date.today()
    monkeypatch.setattr(CareRelations, "today", lambda self: today)
    _, statements = reader_statements(first, f"/Patient/{MARIE}", weber)
    assert care_team_queries(statements)
    monkeypatch.setattr(CareRelations, "today", lambda self: today + timedelta(days=1))
    _, statements = reader_statements(first, f"/Patient/{MARIE}", weber)
    assert care_team_queries(statements)


def test_the_memory_is_bounded_by_the_patients_remembered(tmp_path) -> None:
    """A caller weighs 1 + their patients: a GP of many patients pushes several others out."""
    store = SqliteStore(tmp_path / "fhir.sqlite3")
    cache = VisibilityCache(store, max_weight=100)
    computed: list[str] = []

    def caller(name: str, patients: int):
        async def compute():
            computed.append(name)
            return Visibility(None, frozenset(f"p{i}" for i in range(patients))), None

        return cache.get(name, compute)

    async def scenario() -> None:
        for name in ("a", "b", "c"):
            await caller(name, 29)  # 3 × 30
        await caller("a", 29)  # remembered, and now the most recently used
        await caller("gp", 39)  # 90 + 40 > 100: the least recently used (b) goes
        for name in ("a", "gp", "b"):
            await caller(name, 29 if name != "gp" else 39)

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(store.close())
    assert computed == ["a", "b", "c", "gp", "b"]
