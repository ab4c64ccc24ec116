"""Issue 10.5, graceful shutdown: SIGTERM while large transactions are being written. The
requests in flight finish with 200, the listening socket closes at once (new connections are
refused), the audit trail is flushed, the process exits 0, and the SQLite file is whole: no
write-ahead log left behind, integrity check ok, every acknowledged resource there on reopen."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
TRANSACTIONS = 4
ENTRIES = 5000
"""Patients per transaction: the transactions are written one after the other (the write lock),
each for a second or more, so three are still waiting or running when the first has answered."""


def _transaction(n: int) -> dict:
    entries = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:04d}{i:08d}",
            "resource": {"resourceType": "Patient", "name": [{"family": f"Shutdown{n}", "given": [f"P{i}"]}]},
            "request": {"method": "POST", "url": "Patient"},
        }
        for i in range(ENTRIES)
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _token(data_dir: Path, base_url: str) -> str:
    """A system client's token from ``fhir-server token`` (the data dir's key, the server's audience)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_SERVER_")}
    env["FHIR_SERVER_BASE_URL"] = base_url
    minted = subprocess.run(
        [sys.executable, "-m", "fhir_server", "token", "--system", "ops", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return minted.stdout.strip()


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    except TimeoutError:  # accepted by the kernel, not yet by the server: not refused
        return False
    return False


def test_sigterm_lets_requests_in_flight_finish_and_closes_the_store(server_factory, data_dir: Path) -> None:
    env = {"FHIR_SERVER_AUTH": "true"}
    server = server_factory(data_dir, env=env)
    auth = {"Authorization": f"Bearer {_token(data_dir, server.base_url)}"}

    async def scenario() -> tuple[list[httpx.Response], bool]:
        clients = [server.async_client(timeout=300.0) for _ in range(TRANSACTIONS)]  # a connection each
        for client in clients:
            client.headers.update({**FHIR, **auth})
        try:
            posts = [asyncio.create_task(c.post("/", json=_transaction(n))) for n, c in enumerate(clients)]
            await asyncio.wait(posts, return_when=asyncio.FIRST_COMPLETED)  # the server is at work
            assert sum(p.done() for p in posts) == 1
            server.proc.send_signal(signal.SIGTERM)
            refused = False
            while not refused and not all(p.done() for p in posts):
                refused = await asyncio.to_thread(_refused, server.host, server.port)
            return await asyncio.gather(*posts), refused
        finally:
            for client in clients:
                await client.aclose()

    responses, refused_while_in_flight = asyncio.run(scenario())
    assert refused_while_in_flight  # new connections refused while the old ones were still served
    created: list[str] = []
    for response in responses:
        assert response.status_code == 200, response.text
        statuses = {entry["response"]["status"][:3] for entry in response.json()["entry"]}
        assert statuses == {"201"}
        created += [entry["response"]["location"].split("/")[1] for entry in response.json()["entry"]]
    assert server.proc.wait(timeout=60) == 0, server.stderr_text()
    assert "Traceback" not in server.stderr_text()

    database = data_dir / "fhir.sqlite3"
    wal = database.with_name("fhir.sqlite3-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed: the main file holds everything
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in conn.execute("SELECT id FROM resources WHERE type = 'Patient'")}
    assert set(created) <= stored and len(created) == TRANSACTIONS * ENTRIES

    again = server_factory(data_dir, env=env, port=server.port)  # the same base URL: the token holds
    with again.client() as c:
        c.headers.update(auth)
        families = ",".join(f"Shutdown{n}" for n in range(TRANSACTIONS))
        found = c.get(f"/Patient?family={families}&_total=accurate&_count=0").json()
        assert found["total"] == TRANSACTIONS * ENTRIES, found
        # the audit trail was flushed before the store closed: one AuditEvent per patient written
        transactions = "http://hl7.org/fhir/restful-interaction|transaction"
        events = c.get(f"/AuditEvent?subtype={transactions}&_total=accurate&_count=0").json()
        assert events["total"] == TRANSACTIONS * ENTRIES, events
