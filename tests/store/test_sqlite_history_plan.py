"""Instance history on SQLite must seek the resource's own versions (index ``history_rid``):
asked by (type, id) and ordered by ``seq``, SQLite walked the whole type's history in ``seq``
order instead (``history_type``) — ~200 ms for one résumé among 20,000, on every ``$mr-status``."""

from __future__ import annotations

import shutil

from support import make_client, patient


def test_instance_history_seeks_the_resources_versions(tmp_path, seeded_store):
    shutil.copy(seeded_store, tmp_path / "fhir.sqlite3")
    with make_client(tmp_path) as client:
        for n in range(3):
            assert client.put("/Patient/h1", json=patient(given=f"v{n}", id="h1")).status_code in (200, 201)
        assert client.put("/Patient/h2", json=patient(id="h2")).status_code == 201
        conn = client.app.state.repository.store._conn
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        try:
            response = client.get("/Patient/h1/_history")
        finally:
            conn.set_trace_callback(None)
        assert response.status_code == 200
        assert [e["resource"]["meta"]["versionId"] for e in response.json()["entry"]] == ["3", "2", "1"]
        pages = [s for s in statements if "FROM history h" in s and "ORDER BY" in s]
        assert len(pages) == 1, statements
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + pages[0]))
        assert "history_rid (rid=?)" in plan, plan
