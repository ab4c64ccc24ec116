"""``--workers 2``: two server processes on one port and one store. Start-up work (publishing
profiles, terminology and the demo data) is not duplicated, a SearchParameter written through
one worker is searchable through both, and conditional creates stay unique."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _total(client: httpx.Client, query: str) -> int:
    response = client.get(f"{query}{'&' if '?' in query else '?'}_total=accurate&_count=0")
    assert response.status_code == 200, response.text
    return response.json()["total"]


def test_two_workers_share_one_store(server_factory, tmp_path: Path) -> None:
    single = server_factory(tmp_path / "single", args=["--demo"])
    with single.client() as c:
        expected = {q: _total(c, q) for q in ("/Patient", "/StructureDefinition", "/SearchParameter", "/CodeSystem")}
    single.stop()

    server = server_factory(tmp_path / "multi", args=["--demo", "--workers", "2"])
    with server.client() as c:
        for _ in range(40):  # both workers finished starting: counts are stable
            counts = {q: _total(c, q) for q in expected}
            if counts == expected:
                break
            time.sleep(0.25)
        assert counts == expected

        parameter = {
            "resourceType": "SearchParameter",
            "url": "https://example.lu/SearchParameter/patient-nickname",
            "name": "nickname",
            "status": "active",
            "description": "Patient.name.where(use='nickname').given",
            "code": "nickname",
            "base": ["Patient"],
            "type": "string",
            "expression": "Patient.name.where(use='nickname').given",
        }
        assert c.post("/SearchParameter", json=parameter, headers=FHIR).status_code == 201
        nick = {"resourceType": "Patient", "name": [{"use": "nickname", "given": ["Zorro"]}]}
        assert c.post("/Patient", json=nick, headers=FHIR).status_code == 201
        strict = {"Prefer": "handling=strict"}
        deadline = time.monotonic() + 20
        answers: list[int] = []
        while time.monotonic() < deadline:  # new connections spread requests over both workers
            answers = [
                httpx.get(f"{server.base_url}/Patient?nickname=Zorro&_total=accurate", headers=strict).json().get(
                    "total", -1
                )
                for _ in range(12)
            ]
            if answers == [1] * 12:
                break
            time.sleep(0.5)
        assert answers == [1] * 12

    async def race() -> list[int]:
        body = {"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": "once"}]}
        headers = {**FHIR, "If-None-Exist": "identifier=urn:test|once"}

        async def create() -> int:
            async with httpx.AsyncClient(base_url=server.base_url) as client:  # a connection each
                return (await client.post("/Patient", json=body, headers=headers)).status_code

        return await asyncio.gather(*(create() for _ in range(20)))

    statuses = asyncio.run(race())
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201}
    with server.client() as c:
        assert _total(c, "/Patient?identifier=urn:test|once") == 1
