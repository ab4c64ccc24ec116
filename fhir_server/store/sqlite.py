"""The embedded store: SQLite in WAL mode, one file in the data folder.

One writer connection (all transactions, serialised by an asyncio lock and
``BEGIN IMMEDIATE`` so that several processes on one file stay safe) and one reader
connection that sees only committed data. Calls are short and made directly in the
event loop: cheaper than a thread-pool hop (../shared/design/performance-notes.md).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fhir_server.fhir.index_model import ResourceIndex
from fhir_server.fhir.search.query import HistoryQuery, SearchQuery
from fhir_server.store.base import Page, Store, StoredVersion, StoreReader, StoreTransaction
from fhir_server.store.sqlite_schema import DDL, INDEX_TABLES
from fhir_server.store.sqlite_search import clause_condition

_COLUMNS = "type, id, version_id, last_updated, lu_us, method, body"


def _version(row: tuple[Any, ...]) -> StoredVersion:
    return StoredVersion(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def _parse_cursor(cursor: str | None) -> tuple[str, int] | None:
    """Cursors are 'a<key>' (after key) or 'b<key>' (before key); anything else is ignored."""
    if cursor and len(cursor) > 1 and cursor[0] in "ab" and cursor[1:].isdigit():
        return cursor[0], int(cursor[1:])
    return None


class _SqliteReader(StoreReader):
    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    async def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM resources WHERE type = ? AND id = ?", (resource_type, resource_id)
        ).fetchone()
        return _version(row) if row else None

    async def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredVersion | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM history WHERE type = ? AND id = ? AND version_id = ?",
            (resource_type, resource_id, version_id),
        ).fetchone()
        return _version(row) if row else None

    async def search(self, query: SearchQuery) -> Page:
        conds = ["r.type = ?", "r.body IS NOT NULL"]
        args: list[Any] = [query.resource_type]
        for clause in query.clauses:
            sql, clause_args = clause_condition(clause, query.resource_type)
            conds.append(sql)
            args.extend(clause_args)
        where = " AND ".join(conds)
        total = None
        if query.with_total:
            total = self._conn.execute(f"SELECT count(*) FROM resources r WHERE {where}", args).fetchone()[0]
        select = (
            f"SELECT r.rid, {', '.join('r.' + c.strip() for c in _COLUMNS.split(','))} FROM resources r WHERE {where}"
        )
        return self._page(select, args, "r.rid", _parse_cursor(query.cursor), query.count, ascending=True, total=total)

    async def history(self, query: HistoryQuery) -> Page:
        conds, args = ["1"], []
        if query.resource_type:
            conds.append("h.type = ?")
            args.append(query.resource_type)
        if query.resource_id:
            conds.append("h.id = ?")
            args.append(query.resource_id)
        if query.since_us is not None:
            conds.append("h.lu_us >= ?")
            args.append(query.since_us)
        where = " AND ".join(conds)
        total = self._conn.execute(f"SELECT count(*) FROM history h WHERE {where}", args).fetchone()[0]
        select = (
            f"SELECT h.seq, {', '.join('h.' + c.strip() for c in _COLUMNS.split(','))} FROM history h WHERE {where}"
        )
        return self._page(select, args, "h.seq", _parse_cursor(query.cursor), query.count, ascending=False, total=total)

    def _page(
        self,
        select: str,
        args: list[Any],
        key: str,
        cursor: tuple[str, int] | None,
        count: int,
        *,
        ascending: bool,
        total: int | None,
    ) -> Page:
        """Keyset paging on a unique increasing key: pages never skip or repeat rows when
        others are inserted or deleted meanwhile. 'a' walks in the listing order, 'b' back."""
        forward = cursor is None or cursor[0] == "a"
        walk_ascending = ascending == forward
        sql, page_args = select, list(args)
        if cursor is not None:
            sql += f" AND {key} {'>' if walk_ascending else '<'} ?"
            page_args.append(cursor[1])
        sql += f" ORDER BY {key} {'ASC' if walk_ascending else 'DESC'} LIMIT ?"
        page_args.append(count + 1)
        rows = self._conn.execute(sql, page_args).fetchall()
        more = len(rows) > count
        rows = rows[:count]
        if not forward:
            rows.reverse()
        if not rows:
            return Page([], total, None, None)
        first, last = rows[0][0], rows[-1][0]

        def exists_beyond(edge: int, after: bool) -> bool:
            op = (">" if ascending else "<") if after else ("<" if ascending else ">")
            return self._conn.execute(f"{select} AND {key} {op} ? LIMIT 1", [*args, edge]).fetchone() is not None

        has_next = more if forward else exists_beyond(last, after=True)
        has_previous = more if not forward else cursor is not None and exists_beyond(first, after=False)
        return Page(
            [_version(row[1:]) for row in rows],
            total,
            f"a{last}" if has_next else None,
            f"b{first}" if has_previous else None,
        )


class _SqliteTransaction(_SqliteReader, StoreTransaction):
    async def write(self, version: StoredVersion, index: ResourceIndex | None) -> None:
        conn = self._conn
        row = conn.execute("SELECT rid FROM resources WHERE type = ? AND id = ?", (version.type, version.id)).fetchone()
        values = (version.version_id, version.last_updated, version.last_updated_us, version.method, version.body)
        if row is None:
            rid = conn.execute(
                f"INSERT INTO resources ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (version.type, version.id, *values),
            ).lastrowid
        else:
            rid = row[0]
            conn.execute(
                "UPDATE resources SET version_id = ?, last_updated = ?, lu_us = ?, method = ?, body = ? WHERE rid = ?",
                (*values, rid),
            )
            for table in INDEX_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))
        conn.execute(
            f"INSERT INTO history (rid, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, version.type, version.id, *values),
        )
        if index is not None:
            self._insert_index(rid, version.type, index)

    def _insert_index(self, rid: int, rtype: str, index: ResourceIndex) -> None:
        conn = self._conn
        if index.tokens:
            conn.executemany(
                "INSERT INTO idx_token VALUES (?, ?, ?, ?, ?, ?)",
                [(rid, rtype, e.param, e.system, e.code, e.text) for e in index.tokens],
            )
        if index.strings:
            conn.executemany(
                "INSERT INTO idx_string VALUES (?, ?, ?, ?, ?)",
                [(rid, rtype, e.param, e.value, e.raw) for e in index.strings],
            )
        if index.dates:
            conn.executemany(
                "INSERT INTO idx_date VALUES (?, ?, ?, ?, ?)",
                [(rid, rtype, e.param, e.low, e.high) for e in index.dates],
            )
        if index.references:
            conn.executemany(
                "INSERT INTO idx_reference VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(rid, rtype, e.param, e.target_type, e.target_id, e.version, e.url) for e in index.references],
            )
        if index.uris:
            conn.executemany(
                "INSERT INTO idx_uri VALUES (?, ?, ?, ?)", [(rid, rtype, e.param, e.value) for e in index.uris]
            )


class SqliteStore(_SqliteReader, Store):
    def __init__(self, path: Path, synchronous: str = "FULL"):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = _connect(path, synchronous)
        self._writer.executescript(DDL)
        super().__init__(_connect(path, synchronous))
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StoreTransaction]:
        async with self._lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self._writer)
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    async def close(self) -> None:
        self._conn.close()
        self._writer.close()
