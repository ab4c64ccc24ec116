"""Issue 10.5, several server processes on one MongoDB database (what ``--workers N`` or several
hosts do): conditional creates and conditional updates racing through both processes create
exactly one resource, and every racer gets a success answer — the losers of the write conflict
are run again and find the winner's resource (200).

Runs only against a real MongoDB replica set (FHIR_TEST_MONGODB_URL): mongoeco, the test suite's
own server, does not keep committed data when a transaction that lost a write conflict ends its
session (see tests/store/test_mongo_claims.py, which tests what mongoeco can express).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import httpx
import pytest
from mongo_backend import database_url
from race_kit import ROUTES, SYSTEM, conditional_create, created

RACERS = 12
"""Racers per identifier, every other one through each process."""

pytestmark = pytest.mark.skipif(
    not os.environ.get("FHIR_TEST_MONGODB_URL"), reason="needs a real MongoDB (FHIR_TEST_MONGODB_URL); see docstring"
)


async def _race(servers: list, route: int, values: list[str]) -> list[httpx.Response]:
    async def one(n: int, value: str) -> httpx.Response:
        async with servers[n % 2].async_client() as client:  # a connection each
            return await conditional_create(client, route, value)

    return await asyncio.gather(*(one(n, value) for value in values for n in range(RACERS)))


def test_conditional_writes_racing_across_processes_create_one(server_factory, tmp_path: Path, mongo_server_url):
    store = database_url(mongo_server_url, f"race_{uuid.uuid4().hex[:12]}")
    servers = [server_factory(tmp_path / f"data-{n}", args=["--store", store]) for n in range(2)]
    for route in range(ROUTES):
        values = [uuid.uuid4().hex for _ in range(4)]
        responses = asyncio.run(_race(servers, route, values))
        for i, value in enumerate(values):
            answers = responses[i * RACERS : (i + 1) * RACERS]
            assert sum(created(r) for r in answers) == 1, (route, [r.status_code for r in answers])
            for server in servers:
                with server.client() as c:
                    found = c.get("/Patient", params={"identifier": f"{SYSTEM}|{value}", "_total": "accurate"})
                    assert found.json()["total"] == 1, (route, found.text)
