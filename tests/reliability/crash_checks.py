"""What must hold after a crash: checks of a :class:`crash_workload.Ledger` against the restarted
server over HTTP, and of the SQLite file itself. Each returns the problems it found."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import defaultdict
from pathlib import Path

import httpx
from crash_workload import TX_TAG, TX_TYPES, WRITE_TAG, Ledger, markers

STORE_INVARIANTS = {
    "current version missing from history": "SELECT count(*) FROM resources r LEFT JOIN history h "
    "ON h.rid = r.rid AND h.version_id = r.version_id WHERE h.seq IS NULL OR h.body IS NOT r.body",
    "history beyond the current version": "SELECT count(*) FROM history h JOIN resources r ON r.rid = h.rid "
    "WHERE h.version_id > r.version_id",
    "index rows of no resource": "SELECT count(*) FROM idx_token t LEFT JOIN resources r ON r.rid = t.rid "
    "WHERE r.rid IS NULL",
}


def store_problems(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` and the store's own invariants, on the file as the crash left it."""
    with sqlite3.connect(path) as conn:
        problems = [f"integrity_check: {row[0]}" for row in conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        for name, sql in STORE_INVARIANTS.items():
            if count := conn.execute(sql).fetchone()[0]:
                problems.append(f"{name}: {count} rows")
    conn.close()
    return problems


async def _gather_limited(calls: list, limit: int = 16) -> list:
    gate = asyncio.Semaphore(limit)

    async def one(call):
        async with gate:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))


async def acknowledged_problems(ledger: Ledger, client: httpx.AsyncClient) -> list[str]:
    """Every acknowledged version reads back with its content; each resource's current version
    is its last acknowledged one, or the in-doubt write right after it, never anything else."""
    problems: list[str] = []
    versions = [(key, v, marker) for key, acked in ledger.acked.items() for v, marker in acked.items()]
    reads = await _gather_limited([client.get(f"/{key}/_history/{v}") for key, v, _ in versions])
    for (key, v, marker), response in zip(versions, reads, strict=True):
        if response.status_code != 200 or markers(response.json(), WRITE_TAG) != [marker]:
            problems.append(f"{key} version {v} ({marker}): {response.status_code} {response.text[:200]}")
    keys = sorted(ledger.acked)
    for key, response in zip(keys, await _gather_limited([client.get(f"/{k}") for k in keys]), strict=True):
        last = max(ledger.acked[key])
        allowed = {last: ledger.acked[key][last]}
        if key in ledger.in_doubt:
            allowed.update([ledger.in_doubt[key]])
        current = response.json()
        version = int(current.get("meta", {}).get("versionId", 0))
        if response.status_code != 200 or allowed.get(version) not in markers(current, WRITE_TAG):
            problems.append(f"{key}: current {response.status_code} v{version}, acknowledged v{last}: {allowed}")
    return problems


async def _tagged(client: httpx.AsyncClient, resource_type: str, system: str) -> list[dict]:
    """Every current resource of a type with a tag of ``system``, all pages."""
    found: list[dict] = []
    url: str | None = f"/{resource_type}?_tag={system}|&_count=1000"
    while url:
        bundle = (await client.get(url)).json()
        found += [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return found


async def transaction_problems(ledger: Ledger, client: httpx.AsyncClient) -> list[str]:
    """All or nothing: each transaction's resources are all there (as acknowledged) or none is."""
    found: dict[str, list[str]] = defaultdict(list)
    for resource_type in TX_TYPES:
        for resource in await _tagged(client, resource_type, TX_TAG):
            for marker in markers(resource, TX_TAG):
                found[marker].append(f"{resource_type}/{resource['id']}/_history/{resource['meta']['versionId']}")
    problems = []
    for marker, locations in ledger.transactions.items():
        there = sorted(found.pop(marker, []))
        if (locations is not None and there != sorted(locations)) or (locations is None and len(there) not in (0, 3)):
            problems.append(f"transaction {marker}: acknowledged {locations}, found {there}")
    prefix = f"r{ledger.round}-"
    problems += [f"transaction {m} was never sent: {there}" for m, there in found.items() if m.startswith(prefix)]
    return problems


async def lost_create_problems(ledger: Ledger, client: httpx.AsyncClient) -> list[str]:
    """A create whose answer was lost happened once or not at all."""
    calls = [client.get("/Patient", params={"_tag": f"{WRITE_TAG}|{m}"}) for m in ledger.lost_creates]
    totals = [r.json()["total"] for r in await _gather_limited(calls)]
    return [f"lost create {m} stored {n} times" for m, n in zip(ledger.lost_creates, totals, strict=True) if n > 1]


async def ledger_problems(ledger: Ledger, client: httpx.AsyncClient) -> list[str]:
    return (
        ledger.errors
        + await acknowledged_problems(ledger, client)
        + await transaction_problems(ledger, client)
        + await lost_create_problems(ledger, client)
    )
