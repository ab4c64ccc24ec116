"""MongoDB-specific behaviour: bounded failure and recovery, the copy between stores, error mapping.

The contract (CRUD, history, search, bundles…) runs on both backends through the ``client``
fixture; these tests cover what only the MongoDB adapter has. They start their own
mongoeco server when they need to stop it (never the session's shared one).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pymongo.errors
import pytest
from mongo_backend import Mongoeco, database_url
from support import make_client, patient

from fhir_server.cli import main
from fhir_server.errors import ServiceUnavailable
from fhir_server.store.copy import digest
from fhir_server.store.factory import open_location
from fhir_server.store.mongo import _translate_error

pytestmark = pytest.mark.skipif("mongo" not in __import__("mongo_backend").backends(), reason="FHIR_TEST_BACKENDS")


def test_unreachable_mongodb_answers_503_quickly_and_recovers(tmp_path: Path) -> None:
    server = Mongoeco()
    url = database_url(server.url, "resilience", serverSelectionTimeoutMS="1000", connectTimeoutMS="1000")
    try:
        with make_client(tmp_path, store=url) as client:
            assert client.post("/Patient", json=patient()).status_code == 201
            server.stop()
            for method, path, body in [("GET", "/Patient?name=schmit", None), ("POST", "/Patient", patient())]:
                started = time.monotonic()
                response = client.request(method, path, json=body)
                elapsed = time.monotonic() - started
                assert response.status_code == 503, response.text
                outcome = response.json()
                assert outcome["resourceType"] == "OperationOutcome"
                assert outcome["issue"][0]["code"] == "transient"
                assert "MongoDB" in outcome["issue"][0]["diagnostics"]
                assert elapsed < 5, f"{method} {path} took {elapsed:.1f}s"
            server = Mongoeco(port=server.port)  # back on the same address (empty: in memory)
            deadline = time.monotonic() + 10
            while (status := client.post("/Patient", json=patient("Weber")).status_code) != 201:
                assert status == 503 and time.monotonic() < deadline
                time.sleep(0.2)
            assert client.get("/Patient?name=weber").json()["total"] == 1
    finally:
        server.stop()


def test_copy_store_round_trip_sqlite_mongo_sqlite(
    tmp_path: Path, seeded_store: Path, mongo_server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(seeded_store, source / "fhir.sqlite3")
    with make_client(source) as client:
        created = client.post("/Patient", json=patient("Hoffmann", "Luc", birthDate="1970-05-01")).json()
        pid = created["id"]
        assert client.put(f"/Patient/{pid}", json={**created, "gender": "male"}).status_code == 200
        gone = client.post("/Patient", json=patient("Muller")).json()["id"]
        assert client.delete(f"/Patient/{gone}").status_code in (200, 204)
        condition = {"resourceType": "Condition", "code": {"text": "x"}, "subject": {"reference": f"Patient/{pid}"}}
        assert client.post("/Condition", json=condition).status_code == 201

    mongo_url = database_url(mongo_server_url, "copy_" + tmp_path.name.replace("-", "_")[-20:])
    back = tmp_path / "back"
    try:
        assert main(["copy-store", str(source), mongo_url]) == 0
        assert "verified" in capsys.readouterr().out
        assert main(["copy-store", mongo_url, str(back)]) == 0
        assert main(["copy-store", str(source), mongo_url, "--quiet"]) == 2  # target not empty

        async def digests() -> tuple[object, object, object]:
            found = []
            for location in (str(source), mongo_url, str(back)):
                store = open_location(location)
                try:
                    found.append(await digest(store))
                finally:
                    await store.close()
            return tuple(found)

        a, m, b = asyncio.run(digests())
        assert a == m == b
        assert a.current["Patient"] == 1 and a.versions > 4  # type: ignore[attr-defined]

        # the copies answer the same searches (index entries copied, not lost)
        with make_client(tmp_path / "x", store=mongo_url) as on_mongo, make_client(back) as on_sqlite:
            for query in ("/Patient?name=hoffmann", f"/Condition?subject=Patient/{pid}", "/Patient?gender=male"):
                assert on_mongo.get(query).json()["total"] == on_sqlite.get(query).json()["total"] == 1
            assert on_mongo.get(f"/Patient/{pid}/_history").json()["total"] == 2
            assert on_mongo.get(f"/Patient/{gone}").status_code == 410
    finally:
        from pymongo import MongoClient

        with MongoClient(mongo_server_url) as cleanup:
            cleanup.drop_database(mongo_url.rsplit("/", 1)[1].split("?")[0])


def test_deployment_without_transactions_is_a_clear_503() -> None:
    """A standalone mongod refuses transactions with code 20 (IllegalOperation)."""
    refusal = pymongo.errors.OperationFailure(
        "Transaction numbers are only allowed on a replica set member or mongos", code=20
    )
    error = _translate_error(refusal)
    assert isinstance(error, ServiceUnavailable)
    assert "replica set" in error.outcome()["issue"][0]["diagnostics"]
    assert _translate_error(pymongo.errors.ServerSelectionTimeoutError("no server")).status == 503
    assert _translate_error(pymongo.errors.DuplicateKeyError("dup", code=11000)).status == 409
