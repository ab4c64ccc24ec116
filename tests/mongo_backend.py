"""The MongoDB side of the contract suite (imported as ``mongo_backend``; fixtures live in conftest.py).

``FHIR_TEST_BACKENDS`` (default ``sqlite,mongo``) chooses the backends the HTTP fixtures run
on. For ``mongo`` the suite uses ``FHIR_TEST_MONGODB_URL`` when set (a real MongoDB replica
set), otherwise it starts mongoeco's wire-protocol server from ``.venv-mongoeco`` (Python
3.13) on a free loopback port, once per test session (per xdist worker). Every test gets its
own database, cloned from a seeded one and dropped afterwards. No mocks: the real PyMongo
client talks to a real server over TCP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MONGOECO_PYTHON = REPO_ROOT / ".venv-mongoeco" / "bin" / "python"
MONGOECO_SERVER = REPO_ROOT / "tests" / "mongoeco_server.py"
COLLECTIONS = ("resources", "history")


def backends() -> list[str]:
    chosen = [b.strip() for b in os.environ.get("FHIR_TEST_BACKENDS", "sqlite,mongo").split(",") if b.strip()]
    unknown = set(chosen) - {"sqlite", "mongo"}
    if unknown or not chosen:
        raise pytest.UsageError(f"FHIR_TEST_BACKENDS: unknown backend(s) {sorted(unknown)}; use sqlite,mongo")
    return chosen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(server_url: str, database: str, **options: str) -> str:
    """The server's connection string naming ``database`` (and extra query options)."""
    parts = urlsplit(server_url)
    query = "&".join(p for p in [parts.query, *(f"{k}={v}" for k, v in options.items())] if p)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, query, ""))


class Mongoeco:
    """mongoeco's wire server as a subprocess (in memory: a restart starts empty)."""

    def __init__(self, port: int | None = None):
        if not MONGOECO_PYTHON.exists():
            pytest.fail(
                "the mongo backend needs .venv-mongoeco (Python 3.13 + mongoeco[wire]): run `make install` "
                "or set FHIR_TEST_MONGODB_URL, or FHIR_TEST_BACKENDS=sqlite"
            )
        self.port = port or free_port()
        self.proc = subprocess.Popen(
            [str(MONGOECO_PYTHON), str(MONGOECO_SERVER), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.startswith("mongodb://"):
            self.stop()
            pytest.fail(f"mongoeco server did not start (exit code {self.proc.poll()})")
        self.url = line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


def wait_reachable(url: str, timeout: float = 10.0) -> None:
    from pymongo import MongoClient

    deadline = time.monotonic() + timeout
    while True:
        try:
            with MongoClient(url, serverSelectionTimeoutMS=500) as client:
                client.admin.command("ping")
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class SeedCopier:
    """Clones a seeded database into fresh ones (the documents are read once)."""

    def __init__(self, server_url: str, seed_database: str):
        from pymongo import MongoClient

        self.server_url = server_url
        self._client = MongoClient(server_url)
        seed = self._client[seed_database]
        self._documents = {name: list(seed[name].find()) for name in COLLECTIONS}

    def fresh(self) -> str:
        name = "t" + uuid.uuid4().hex[:16]
        db = self._client[name]
        for collection, docs in self._documents.items():
            if docs:
                db[collection].insert_many(docs)
        return name

    def drop(self, name: str) -> None:
        self._client.drop_database(name)

    def close(self) -> None:
        self._client.close()
