"""Concurrency (issue 11.2), beyond tests/process (one If-Match race on one resource, one
two-process If-None-Exist race): many clients read-modify-write the same resources with
If-Match — PUT and JSON Patch mixed — and lose no update; conditional creates racing on the
same criteria through every route (If-None-Exist, conditional update, transaction entries),
on one process or two sharing the store, create exactly one resource per criteria.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from race_kit import ROUTES, SYSTEM, conditional_create, created
from reliability_kit import JSON_HEADERS

PATCH_HEADERS = {"Content-Type": "application/json-patch+json", "Accept": "application/fhir+json"}


async def increment(client: httpx.AsyncClient, path: str, use_patch: bool) -> int:
    """Add one to the counter (multipleBirthInteger) with optimistic locking; the 412s it took."""
    conflicts = 0
    while True:
        current = (await client.get(path)).json()
        version, counter = current["meta"]["versionId"], current["multipleBirthInteger"]
        headers = {"If-Match": f'W/"{version}"'}
        if use_patch:
            operation = [{"op": "replace", "path": "/multipleBirthInteger", "value": counter + 1}]
            response = await client.patch(path, json=operation, headers={**PATCH_HEADERS, **headers})
        else:
            body = {**current, "multipleBirthInteger": counter + 1}
            response = await client.put(path, json=body, headers={**JSON_HEADERS, **headers})
        if response.status_code == 200:
            return conflicts
        assert response.status_code == 412, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        conflicts += 1


def test_optimistic_locking_loses_no_update(servers, tmp_path, scale, figures):
    server = servers(tmp_path / "data")
    clients, rounds = scale.race_clients, 3 if scale.name == "short" else 10
    with server.client() as c:
        paths = [
            f"/Patient/{c.post('/Patient', json={'resourceType': 'Patient', 'multipleBirthInteger': 0}).json()['id']}"
            for _ in range(3)
        ]

    async def race() -> list[int]:
        limits = httpx.Limits(max_connections=clients)
        async with server.async_client(limits=limits) as ac:

            async def worker(n: int) -> int:
                return sum([await increment(ac, path, use_patch=n % 2 == 1) for _ in range(rounds) for path in paths])

            return await asyncio.gather(*(worker(n) for n in range(clients)))

    conflicts = sum(asyncio.run(race()))
    writes = clients * rounds
    with server.client() as c:
        for path in paths:
            final = c.get(path).json()
            assert final["multipleBirthInteger"] == writes
            assert final["meta"]["versionId"] == str(writes + 1)
            history = c.get(f"{path}/_history", params={"_count": str(writes + 1)}).json()
            counters = sorted(
                (int(e["resource"]["meta"]["versionId"]), e["resource"]["multipleBirthInteger"])
                for e in history["entry"]
            )
            assert counters == [(v, v - 1) for v in range(1, writes + 2)]  # each version one step on
    figures.append(
        f"If-Match races: {clients} clients x {rounds} increments x 3 resources, no update lost, {conflicts} x 412"
    )


@pytest.mark.parametrize("processes", [1, 2])
def test_conditional_creates_racing_create_one(servers, tmp_path, scale, processes: int):
    started = [servers(tmp_path / "data") for _ in range(processes)]
    values = [uuid.uuid4().hex for _ in range(5)]
    racers = scale.race_clients

    async def race() -> list[tuple[str, httpx.Response]]:
        clients = [s.async_client() for s in started]
        try:
            calls = [
                conditional_create(clients[n % processes], n % ROUTES, value) for value in values for n in range(racers)
            ]
            responses = await asyncio.gather(*calls)
        finally:
            for client in clients:
                await client.aclose()
        return [(value, r) for value, r in zip([v for v in values for _ in range(racers)], responses, strict=True)]

    outcomes = asyncio.run(race())
    with started[0].client() as c:
        for value in values:
            assert sum(created(r) for v, r in outcomes if v == value) == 1
            found = c.get("/Patient", params={"identifier": f"{SYSTEM}|{value}"}).json()
            assert found["total"] == 1
