"""The real server as a process: start-up, configuration, request log, crash durability,
concurrency, body limit and demo loading — over real loopback HTTP.

Fixtures (``server_factory``, ``server``, ``data_dir``, ``get_free_port``) are in
tests/process/conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

FHIR_JSON = "application/fhir+json"
JSON_HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
MATRICULE_SYSTEM = "urn:oid:1.3.182.4.4"
DEMO_PATIENT = "lu-patient-marie-schmit"


def patient(family: str, given: str = "Marie", **extra) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], **extra}


def history_total(client: httpx.Client, path: str = "/_history") -> int:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return r.json()["total"]


def search_total(client: httpx.Client, query: str) -> int:
    r = client.get(query)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body["total"]


def _requests(records: list[dict]) -> list[dict]:
    return [rec for rec in records if "request_id" in rec]


def wait_for_log_lines(server, predicate, timeout: float = 5.0) -> list[dict]:
    """Request-log records (stderr lines parsed as JSON) once ``predicate(records)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        records = [json.loads(line) for line in server.stderr_text().splitlines() if line.strip()]
        if predicate(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


# -- start-up and configuration ----------------------------------------------------------------


def test_sqlite_file_created_in_data_dir_on_first_start(server_factory, tmp_path: Path):
    data = tmp_path / "not" / "yet" / "there"
    assert not data.exists()
    server = server_factory(data)
    db = data / "fhir.sqlite3"
    assert db.is_file(), sorted(p.name for p in tmp_path.rglob("*"))

    with server.client() as c:
        r = c.post("/Patient", json=patient("Hoffmann"), headers=JSON_HEADERS)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]

    # the resource really is in that file (read-only, while the server runs: WAL allows it)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT version_id FROM resources WHERE type = 'Patient' AND id = ?", (pid,)).fetchone()
    assert row == (1,)
    # nothing written to the working directory of the process (no stray default data/ dir)
    assert not (server_factory.log_dir / "data").exists()


def test_every_option_via_environment_only(server_factory, tmp_path: Path, get_free_port):
    """Host, port, data dir, base URL, demo and authentication (on, the default) from
    FHIR_SERVER_* variables, no flags; a token minted by `fhir-server token` gets in."""
    host = "127.0.0.2"  # another loopback address: proves FHIR_SERVER_HOST is honoured
    port = get_free_port(host)
    data = tmp_path / "env-data"
    env = {
        "FHIR_SERVER_HOST": host,
        "FHIR_SERVER_PORT": str(port),
        "FHIR_SERVER_DATA_DIR": str(data),
        "FHIR_SERVER_BASE_URL": "https://fhir.example.lu/r4",
        "FHIR_SERVER_DEMO": "true",
        "FHIR_SERVER_AUTH": "true",
    }
    server = server_factory(None, env=env, host=host, port=port, use_flags=False)
    assert server.proc.args[-1] == "serve"  # really no flags
    minted = subprocess.run(
        [sys.executable, "-m", "fhir_server", "token", "--system", "ops"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FHIR_SERVER_")}, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    token = {"Authorization": f"Bearer {minted.stdout.strip()}"}

    assert (data / "fhir.sqlite3").is_file()
    # bound to 127.0.0.2 only, not 127.0.0.1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=2.0)
    with server.client() as c:
        assert c.get(f"/Patient/{DEMO_PATIENT}").status_code == 401  # FHIR_SERVER_AUTH
        c.headers.update(token)
        assert c.get(f"/Patient/{DEMO_PATIENT}").status_code == 200  # FHIR_SERVER_DEMO
        r = c.post("/Patient", json=patient("Muller"), headers=JSON_HEADERS)
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == f"https://fhir.example.lu/r4/Patient/{r.json()['id']}/_history/1"
        assert c.get("/metadata").json()["implementation"]["url"] == "https://fhir.example.lu/r4"


def test_no_auth_binds_to_localhost_and_warns(server_factory, tmp_path: Path, get_free_port):
    port = get_free_port()
    server = server_factory(tmp_path, args=["--no-auth"], host="0.0.0.0", port=port)  # asks for every interface
    assert "Authentication is OFF" in server.stderr_path.read_text()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        assert c.get("/Patient?_count=1").status_code == 200
    assert "127.0.0.1" in server.stderr_path.read_text().split("Uvicorn running on")[1][:30]


def test_flags_override_environment(server_factory, tmp_path: Path, get_free_port):
    env_port = get_free_port()
    env = {"FHIR_SERVER_PORT": str(env_port), "FHIR_SERVER_DATA_DIR": str(tmp_path / "from-env")}
    server = server_factory(tmp_path / "from-flag", env=env)  # flags: --port <other>, --data-dir from-flag
    assert server.port != env_port
    assert (tmp_path / "from-flag" / "fhir.sqlite3").is_file()
    assert not (tmp_path / "from-env").exists()


# -- request log -------------------------------------------------------------------------------


def test_one_json_log_line_per_request_without_query_values(server):
    secret_name, secret_birth = "Zyxwv", "1971-03-04"
    with server.client() as c:
        r_meta = c.get("/metadata")
        r_create = c.post("/Patient", json=patient("Qwertz"), headers=JSON_HEADERS)
        r_search = c.get("/Patient", params={"name": secret_name, "birthdate": secret_birth})
        r_missing = c.get("/Patient/no-such-patient")
        r_form = c.post(
            "/Patient/_search",
            content=f"family={secret_name}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert (
        r_meta.status_code,
        r_create.status_code,
        r_search.status_code,
        r_missing.status_code,
        r_form.status_code,
    ) == (200, 201, 200, 404, 200)
    responses = [r_meta, r_create, r_search, r_missing, r_form]

    lines = wait_for_log_lines(server, lambda recs: len(_requests(recs)) >= 5 + 1)  # + the readiness probe
    # every stderr line is one JSON object (json.loads above raised otherwise): request lines,
    # and the server's own log records (start-up messages) with a level and a logger
    records = _requests(lines)
    assert all({"level", "logger", "message"} <= set(rec) for rec in lines if rec not in records)
    by_id = {rec["request_id"]: rec for rec in records}
    assert len(by_id) == len(records)
    expected = [
        ("GET", "/metadata", 200, []),
        ("POST", "/Patient", 201, []),
        ("GET", "/Patient", 200, ["birthdate", "name"]),
        ("GET", "/Patient/no-such-patient", 404, []),
        ("POST", "/Patient/_search", 200, []),
    ]
    for response, (method, path, status, params) in zip(responses, expected, strict=True):
        request_id = response.headers["x-request-id"]
        rec = by_id[request_id]
        assert (rec["method"], rec["path"], rec["status"], rec["params"]) == (method, path, status, params)
        assert isinstance(rec["duration_ms"], (int, float)) and rec["duration_ms"] >= 0
    # exactly one line per request: 5 requests + the readiness probes (GET /metadata only)
    probes = [rec for rec in records if rec["request_id"] not in {r.headers["x-request-id"] for r in responses}]
    assert all((p["method"], p["path"]) == ("GET", "/metadata") for p in probes)
    assert len(records) == len(responses) + len(probes)

    log = server.stderr_text()
    assert secret_name not in log
    assert secret_birth not in log
    assert "1971" not in log


# -- durability --------------------------------------------------------------------------------


def test_acknowledged_writes_survive_kill_9(server_factory, data_dir: Path):
    n = 50
    server = server_factory(data_dir)
    created: dict[str, tuple[str, str]] = {}  # id -> (versionId, family)
    with server.client() as c:
        for i in range(n):
            family = f"Durable{i:03d}"
            r = c.post("/Patient", json=patient(family), headers=JSON_HEADERS)
            assert r.status_code == 201, r.text
            body = r.json()
            assert r.headers["ETag"] == f'W/"{body["meta"]["versionId"]}"'
            created[body["id"]] = (body["meta"]["versionId"], family)
        # a few updates too, so "same versionId" is not only "1"
        for pid in list(created)[:5]:
            family = created[pid][1] + "-v2"
            r = c.put(f"/Patient/{pid}", json={**patient(family), "id": pid}, headers=JSON_HEADERS)
            assert r.status_code == 200, r.text
            created[pid] = (r.json()["meta"]["versionId"], family)
        assert {v for v, _ in created.values()} == {"1", "2"}

        transaction = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": "urn:uuid:6f1c2d4e-0000-4000-8000-000000000001",
                    "resource": patient(
                        "Transaktioun", identifier=[{"system": MATRICULE_SYSTEM, "value": "1980010112345"}]
                    ),
                    "request": {"method": "POST", "url": "Patient"},
                },
                {
                    "resource": {
                        "resourceType": "Condition",
                        "subject": {"reference": "urn:uuid:6f1c2d4e-0000-4000-8000-000000000001"},
                        "code": {"text": "Hypertension"},
                    },
                    "request": {"method": "POST", "url": "Condition"},
                },
                {
                    "resource": {
                        "resourceType": "Practitioner",
                        "id": "tx-practitioner",
                        "name": [{"family": "Weber"}],
                    },
                    "request": {"method": "PUT", "url": "Practitioner/tx-practitioner"},
                },
            ],
        }
        r = c.post("/", json=transaction, headers=JSON_HEADERS)
        assert r.status_code == 200, r.text
        tx_entries = r.json()["entry"]
        locations = [e["response"]["location"] for e in tx_entries]
        assert all(e["response"]["status"].startswith("201") for e in tx_entries), tx_entries

    server.kill9()
    assert server.proc.returncode == -9

    restarted = server_factory(data_dir)
    with restarted.client() as c:
        for pid, (version, family) in created.items():
            r = c.get(f"/Patient/{pid}")
            assert r.status_code == 200, (pid, r.text)
            body = r.json()
            assert body["meta"]["versionId"] == version, pid
            assert body["name"][0]["family"] == family
            assert r.headers["ETag"] == f'W/"{version}"'
        assert search_total(c, "/Patient?name=Durable&_count=1") == n

        # the transaction: all three entries, each at the version it was answered with
        read_back = {}
        for location in locations:
            # R4 allows a relative or absolute location: [base/]Type/id/_history/vid
            type_, id_, history, version = location.split("/")[-4:]
            assert history == "_history"
            path = f"/{type_}/{id_}"
            r = c.get(path)
            assert r.status_code == 200, (location, r.text)
            assert r.json()["meta"]["versionId"] == version
            read_back[r.json()["resourceType"]] = r.json()
        assert read_back["Patient"]["identifier"][0]["value"] == "1980010112345"
        assert read_back["Condition"]["subject"]["reference"] == f"Patient/{read_back['Patient']['id']}"
        assert read_back["Practitioner"]["id"] == "tx-practitioner"
        assert search_total(c, f"/Patient?identifier={MATRICULE_SYSTEM}|1980010112345") == 1


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_if_match_updates_exactly_one_wins(server):
    with server.client() as c:
        r = c.post("/Patient", json=patient("Schmit"), headers=JSON_HEADERS)
        assert r.status_code == 201
        pid = r.json()["id"]

    async def race() -> list[httpx.Response]:
        async with server.async_client() as ac:
            return await asyncio.gather(
                *(
                    ac.put(
                        f"/Patient/{pid}",
                        json={**patient(f"Racer{i:02d}"), "id": pid},
                        headers={**JSON_HEADERS, "If-Match": 'W/"1"'},
                    )
                    for i in range(20)
                )
            )

    responses = asyncio.run(race())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 19, statuses
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.json()["meta"]["versionId"] == "2"
    for loser in (r for r in responses if r.status_code == 412):
        assert loser.json()["resourceType"] == "OperationOutcome"

    with server.client() as c:
        r = c.get(f"/Patient/{pid}")
        assert r.json()["meta"]["versionId"] == "2"
        assert r.headers["ETag"] == 'W/"2"'
        assert r.json()["name"] == winner.json()["name"]
        assert history_total(c, f"/Patient/{pid}/_history") == 2


def test_concurrent_creates_get_distinct_ids(server):
    n = 200
    tag = uuid.uuid4().hex[:8]

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with server.async_client(limits=limits) as ac:
            return await asyncio.gather(
                *(
                    ac.post(
                        "/Patient",
                        json=patient(
                            f"Burst{tag}",
                            given=f"G{i}",
                            identifier=[{"system": "urn:test:burst", "value": f"{tag}-{i}"}],
                        ),
                        headers=JSON_HEADERS,
                    )
                    for i in range(n)
                )
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [201] * n
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == n
    assert all(r.json()["meta"]["versionId"] == "1" for r in responses)

    with server.client() as c:
        assert search_total(c, f"/Patient?name=Burst{tag}&_count=1") == n
        # each id holds the resource its POST sent (no mix-up between concurrent requests)
        for i in (0, 57, 123, n - 1):
            body = c.get(f"/Patient/{ids[i]}").json()
            assert body["identifier"][0]["value"] == f"{tag}-{i}"


# -- body limit --------------------------------------------------------------------------------


def test_body_above_limit_is_413_and_store_unchanged(server_factory, data_dir: Path):
    limit = 10_000
    server = server_factory(data_dir, env={"FHIR_SERVER_MAX_BODY_BYTES": str(limit)})

    big = patient(
        "Grouss", address=[{"line": [f"{i}, rue de la Gare"], "city": "Esch-sur-Alzette"} for i in range(400)]
    )
    big_bytes = json.dumps(big).encode()
    assert len(big_bytes) > 2 * limit
    small = patient("Kleng")
    assert len(json.dumps(small)) < limit

    with server.client() as c:
        r = c.post("/Patient", json=small, headers=JSON_HEADERS)
        assert r.status_code == 201, r.text  # the limit does not refuse ordinary bodies
        before = history_total(c)

        # with a Content-Length header
        r = c.post("/Patient", content=big_bytes, headers=JSON_HEADERS)
        assert r.request.headers["Content-Length"] == str(len(big_bytes))
        assert r.status_code == 413, r.text
        assert r.json()["resourceType"] == "OperationOutcome"

        # chunked (no Content-Length): the server must count what it reads
        def chunks():
            for i in range(0, len(big_bytes), 1000):
                yield big_bytes[i : i + 1000]

        r = c.post("/Patient", content=chunks(), headers=JSON_HEADERS)
        assert "Content-Length" not in r.request.headers
        assert r.request.headers["Transfer-Encoding"] == "chunked"
        assert r.status_code == 413, r.text
        assert r.json()["resourceType"] == "OperationOutcome"

        # create-on-update with a client id, too big: nothing created
        r = c.put("/Patient/too-big", content=big_bytes, headers=JSON_HEADERS)
        assert r.status_code == 413
        assert c.get("/Patient/too-big").status_code == 404

        # a transaction Bundle above the limit: nothing of it written
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": patient(f"Bundle{i}"), "request": {"method": "POST", "url": "Patient"}} for i in range(200)
            ],
        }
        r = c.post("/", content=json.dumps(bundle).encode(), headers=JSON_HEADERS)
        assert r.status_code == 413

        assert history_total(c) == before
        assert search_total(c, "/Patient?name=Grouss") == 0
        assert search_total(c, "/Patient?name=Bundle") == 0
        # and the server still serves normally afterwards
        assert c.get("/metadata").status_code == 200
        assert c.post("/Patient", json=small, headers=JSON_HEADERS).status_code == 201


# -- demo data ---------------------------------------------------------------------------------


def test_demo_loaded_once_and_not_reversioned_on_restart(server_factory, data_dir: Path):
    server = server_factory(data_dir, args=["--demo"])
    with server.client() as c:
        r = c.get(f"/Patient/{DEMO_PATIENT}")
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["meta"]["versionId"] == "1"
        assert r.headers["ETag"] == 'W/"1"'
        care_teams = search_total(c, f"/CareTeam?subject=Patient/{DEMO_PATIENT}")
        assert care_teams >= 1
        total_before = history_total(c)
        patients_before = search_total(c, "/Patient?_count=1")
    assert total_before > 10
    server.stop()
    # SIGTERM is a clean shutdown within stop()'s 10 s (no SIGKILL needed); uvicorn >= 0.29
    # re-raises the signal after its graceful shutdown, so -15 is as good as 0
    assert server.proc.returncode in (0, -15), (server.proc.returncode, server.stderr_text())

    again = server_factory(data_dir, args=["--demo"])
    with again.client() as c:
        r = c.get(f"/Patient/{DEMO_PATIENT}")
        assert r.status_code == 200
        assert r.json()["meta"] == first["meta"]  # same versionId "1", same lastUpdated
        assert r.headers["ETag"] == 'W/"1"'
        assert history_total(c) == total_before
        assert history_total(c, f"/Patient/{DEMO_PATIENT}/_history") == 1
        assert search_total(c, "/Patient?_count=1") == patients_before
        assert search_total(c, f"/CareTeam?subject=Patient/{DEMO_PATIENT}") == care_teams


def test_demo_restart_does_not_resurrect_deleted_demo_resources(server_factory, data_dir: Path):
    """--demo loads once: a demo resource a user deleted stays deleted across restarts."""
    server = server_factory(data_dir, args=["--demo"])
    with server.client() as c:
        assert c.delete("/Organization/lu-organization-cns").status_code == 204  # the loader's sentinel
        assert c.delete(f"/Patient/{DEMO_PATIENT}").status_code == 204
        total_before = history_total(c)
    server.stop()

    again = server_factory(data_dir, args=["--demo"])
    with again.client() as c:
        assert c.get("/Organization/lu-organization-cns").status_code == 410
        assert c.get(f"/Patient/{DEMO_PATIENT}").status_code == 410
        assert history_total(c) == total_before
        r = c.get("/Practitioner/lu-practitioner-claude-weber")
        assert r.status_code == 200 and r.json()["meta"]["versionId"] == "1"


def test_conditional_creates_racing_across_two_processes_create_one(server_factory, data_dir: Path):
    """Two server processes on one SQLite file; 40 conditional creates with the same criteria,
    sent to both at once: exactly one resource is created, the others find it (issue 11.2)."""
    first = server_factory(data_dir)
    second = server_factory(data_dir)
    tag = uuid.uuid4().hex[:8]
    body = patient("Race", identifier=[{"system": "urn:test:race", "value": tag}])
    headers = {**JSON_HEADERS, "If-None-Exist": f"identifier=urn:test:race|{tag}"}

    async def race() -> list[httpx.Response]:
        async with first.async_client() as a, second.async_client() as b:
            calls = [(a if i % 2 else b).post("/Patient", json=body, headers=headers) for i in range(40)]
            return await asyncio.gather(*calls)

    responses = asyncio.run(race())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1 and statuses.count(200) == 39, statuses
    assert len({r.json()["id"] for r in responses}) == 1
    with first.client() as c:
        assert search_total(c, f"/Patient?identifier=urn:test:race|{tag}") == 1
