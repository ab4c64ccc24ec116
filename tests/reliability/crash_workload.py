"""The writers of the crash test: concurrent creates, If-Match updates and transactions, each
recorded in a :class:`Ledger` — acknowledged with its version, or in doubt when the server died
before answering. Imported as ``crash_workload`` by test_crash_safety.py.

Every write carries a marker in ``meta.tag``: a single write its own (system ``WRITE_TAG``), the
resources of one transaction a shared one (``TX_TAG``), so that what survived can be told apart.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from reliability_kit import JSON_HEADERS

WRITE_TAG = "urn:test:crash-write"
TX_TAG = "urn:test:crash-tx"
TX_TYPES = ("Patient", "Condition", "Practitioner")


@dataclass
class Ledger:
    """What one round sent, and what the server acknowledged."""

    round: int
    acked: dict[str, dict[int, str]] = field(default_factory=dict)
    """"Type/id" → {acknowledged version: its marker}."""
    in_doubt: dict[str, tuple[int, str]] = field(default_factory=dict)
    """"Type/id" → (version, marker) of an update sent but never answered: it may or may not be there."""
    lost_creates: list[str] = field(default_factory=list)
    """Markers of creates never answered: at most one resource each."""
    transactions: dict[str, list[str] | None] = field(default_factory=dict)
    """Transaction marker → its acknowledged "Type/id/_history/version" locations, None if never answered."""
    errors: list[str] = field(default_factory=list)
    """Answers that were neither the expected success nor a lost connection."""

    def marker(self) -> str:
        return f"r{self.round}-{uuid.uuid4().hex[:12]}"

    @property
    def acknowledged(self) -> int:
        return sum(len(v) for v in self.acked.values()) + sum(1 for t in self.transactions.values() if t)


def tagged(resource_type: str, system: str, marker: str, **content: Any) -> dict[str, Any]:
    return {"resourceType": resource_type, "meta": {"tag": [{"system": system, "code": marker}]}, **content}


def markers(resource: dict[str, Any], system: str) -> list[str]:
    return [t["code"] for t in resource.get("meta", {}).get("tag", []) if t.get("system") == system]


class Writer:
    """One client: writes until the server stops answering."""

    def __init__(self, ledger: Ledger, client: httpx.AsyncClient, rng: random.Random):
        self.ledger, self.client, self.rng = ledger, client, rng
        self.own: dict[str, int] = {}  # "Type/id" → current version, for resources only this writer updates

    async def run(self) -> None:
        try:
            while True:
                roll = self.rng.random()
                if roll < 0.35 or not self.own:
                    await self.create()
                elif roll < 0.75:
                    await self.update(self.rng.choice(sorted(self.own)))
                else:
                    await self.transaction()
        except httpx.TransportError:
            return  # the server was killed: this writer's last request is recorded as in doubt

    def _expect(self, response: httpx.Response, status: int) -> bool:
        if response.status_code != status:
            self.ledger.errors.append(f"{response.request.method} {response.request.url}: {response.status_code}")
        return response.status_code == status

    async def create(self) -> None:
        marker = self.ledger.marker()
        body = tagged("Patient", WRITE_TAG, marker, name=[{"family": "Crash", "given": [marker]}])
        try:
            response = await self.client.post("/Patient", json=body, headers=JSON_HEADERS)
        except httpx.TransportError:
            self.ledger.lost_creates.append(marker)
            raise
        if self._expect(response, 201):
            key = f"Patient/{response.json()['id']}"
            self.ledger.acked[key] = {1: marker}
            self.own[key] = 1

    async def update(self, key: str) -> None:
        version, marker = self.own[key], self.ledger.marker()
        body = tagged("Patient", WRITE_TAG, marker, id=key.split("/")[1], name=[{"family": "Crash", "given": [marker]}])
        try:
            response = await self.client.put(
                f"/{key}", json=body, headers={**JSON_HEADERS, "If-Match": f'W/"{version}"'}
            )
        except httpx.TransportError:
            self.ledger.in_doubt[key] = (version + 1, marker)
            raise
        if self._expect(response, 200):
            self.ledger.acked[key][version + 1] = marker
            self.own[key] = version + 1

    async def transaction(self) -> None:
        marker = self.ledger.marker()
        patient_url = f"urn:uuid:{uuid.uuid4()}"
        entries = [
            {
                "fullUrl": patient_url,
                "resource": tagged("Patient", TX_TAG, marker),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": tagged("Condition", TX_TAG, marker, subject={"reference": patient_url}, code={"text": "x"}),
                "request": {"method": "POST", "url": "Condition"},
            },
            {
                "resource": tagged("Practitioner", TX_TAG, marker, id=f"tx-{marker}"),
                "request": {"method": "PUT", "url": f"Practitioner/tx-{marker}"},
            },
        ]
        self.ledger.transactions[marker] = None
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        response = await self.client.post("/", json=bundle, headers=JSON_HEADERS)
        if self._expect(response, 200):
            locations = [e["response"]["location"] for e in response.json()["entry"]]
            self.ledger.transactions[marker] = ["/".join(loc.split("/")[-4:]) for loc in locations]


async def write_until_killed(ledger: Ledger, server: Any, writers: int, kill_after: float, seed: int) -> None:
    """Run the writers against ``server``; once a first write is acknowledged, SIGKILL it
    ``kill_after`` seconds later; wait for the writers to notice."""
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=writers)
    async with server.async_client(limits=limits, timeout=30.0) as client:
        tasks = [asyncio.create_task(Writer(ledger, client, random.Random(rng.random())).run()) for _ in range(writers)]
        while not (ledger.acknowledged or ledger.errors or all(task.done() for task in tasks)):
            await asyncio.sleep(0.01)
        await asyncio.sleep(kill_after)
        server.kill9()
        await asyncio.gather(*tasks)
