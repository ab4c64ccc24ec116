"""Values that may be used once and expire: authorization codes and client-assertion ``jti``s.

Kept in a small SQLite file in the auth folder rather than in memory, so that every worker
process of one server (``--workers``) and a restarted one agree: a code issued by one worker
is redeemed at another, and a replayed assertion is refused by all.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS single_use (kind TEXT, key TEXT, value TEXT, expires REAL, PRIMARY KEY (kind, key))"
)


class SingleUseStore:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._path = folder / "single-use.sqlite3"
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=10, isolation_level=None)

    def put(self, kind: str, key: str, value: str, expires: float) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM single_use WHERE expires <= ?", (time.time(),))
            conn.execute("INSERT OR REPLACE INTO single_use VALUES (?, ?, ?, ?)", (kind, key, value, expires))

    def take(self, kind: str, key: str) -> str | None:
        """The live value, removed in the same statement: two takers never both get it."""
        with self._connect() as conn:
            row = conn.execute(
                "DELETE FROM single_use WHERE kind = ? AND key = ? RETURNING value, expires", (kind, key)
            ).fetchone()
        if row is None or row[1] <= time.time():
            return None
        return row[0]

    def first_use(self, kind: str, key: str, expires: float) -> bool:
        """True the first time ``key`` is seen (until it expires), False on every replay."""
        with self._connect() as conn:
            conn.execute("DELETE FROM single_use WHERE expires <= ?", (time.time(),))
            cursor = conn.execute("INSERT OR IGNORE INTO single_use VALUES (?, ?, '', ?)", (kind, key, expires))
            return cursor.rowcount == 1
