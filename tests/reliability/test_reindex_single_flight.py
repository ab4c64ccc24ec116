"""``POST $reindex`` while a reindex runs answers with that job instead of starting a second
full pass over the store (as HAPI does): repeated or hostile calls cannot pile up reindexes.
Through the ASGI app, on each backend."""

from __future__ import annotations

import time

import httpx
import pytest
from reliability_kit import FHIR_JSON, JSON_HEADERS

from fhir_server.fhir import reindex

PARAMETERS = {"resourceType": "Parameters"}
BATCH = 10  # resources per batch of the reindexer (100 in the server): it yields between them
PATIENTS = {"sqlite": 1000, "mongo": 100}
"""Patients stored: ten batches of the reindexer or more, so requests come in while it runs.
Fewer on MongoDB, where mongoeco takes ~29 s to store 1,000 in one transaction (SQLite < 1 s)."""


def parts(job: dict) -> dict[str, object]:
    """A job of a ``$reindex`` answer as name → value (``type``: the list of types)."""
    found: dict[str, object] = {}
    for part in job["part"]:
        value = next(v for k, v in part.items() if k.startswith("value"))
        found[part["name"]] = [*found.get(part["name"], []), value] if part["name"] == "type" else value
    return found


def job_of(response: httpx.Response) -> dict[str, object]:
    """The one job a ``POST $reindex`` answers with."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    [job] = response.json()["parameter"]
    return parts(job)


def jobs(client) -> list[dict[str, object]]:
    response = client.get("/$reindex")
    assert response.status_code == 200, response.text
    return [parts(job) for job in response.json().get("parameter", [])]


def wait_until_over(client, job_id: object, timeout: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while (job := next(j for j in jobs(client) if j["id"] == job_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


def test_a_second_reindex_request_gets_the_running_job(client, backend: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(reindex, "BATCH", BATCH)
    patients = PATIENTS[backend]
    entry = {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry] * patients}
    assert client.post("/", json=bundle, headers=JSON_HEADERS).status_code == 200
    before = len(jobs(client))

    first = job_of(client.post("/$reindex", json=PARAMETERS))
    assert first["status"] in ("queued", "running"), first
    again = job_of(client.post("/$reindex", json=PARAMETERS))
    one_type = job_of(client.post("/Patient/$reindex", json=PARAMETERS))
    assert again["id"] == first["id"] and one_type["id"] == first["id"]
    assert again["status"] in ("queued", "running") and again["started"] == first["started"]

    done = wait_until_over(client, first["id"])
    assert done["status"] == "completed" and done["processed"] == done["total"] >= patients
    assert len(jobs(client)) == before + 1  # one job for the three requests
    later = job_of(client.post("/Patient/$reindex", json=PARAMETERS))  # nothing runs: a new job
    assert later["id"] != first["id"] and later["type"] == ["Patient"]
    assert wait_until_over(client, later["id"])["status"] == "completed"
    assert len(jobs(client)) == before + 2
