"""The embedded store: SQLite in WAL mode, one file in the data folder.

One writer connection (all transactions, serialised by an asyncio lock and
``BEGIN IMMEDIATE`` so that several processes on one file stay safe) and one reader
connection that sees only committed data. Calls are short and made directly in the
event loop: cheaper than a thread-pool hop (../shared/design/performance-notes.md) —
except COMMIT, whose fsync would stall every request: it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from fhir_server.fhir.index_model import ResourceIndex
from fhir_server.fhir.search.query import HistoryQuery, SearchQuery
from fhir_server.fhir.text import ascii_digits
from fhir_server.store.base import Page, Store, StoredVersion, StoreReader, StoreTransaction
from fhir_server.store.cancellation import finish
from fhir_server.store.cursors import decode_cursor, encode_cursor
from fhir_server.store.sqlite_schema import DDL, INDEX_ENTRY_CLASSES, INDEX_ROWS, INDEX_TABLES
from fhir_server.store.sqlite_search import (
    Condition,
    SqlTranslator,
    driving_criterion,
    keyset_condition,
    sort_expression,
    start_from_most_selective,
)

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


class _SqliteReader(StoreReader):
    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    async def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM resources WHERE type = ? AND id = ?", (resource_type, resource_id)
        ).fetchone()
        return _version(row) if row else None

    async def change_marker(self, resource_types: tuple[str, ...]) -> Hashable | None:
        # history.seq grows with every version written and writers commit one at a time
        # (BEGIN IMMEDIATE), so a later commit never shows a smaller seq than one already seen
        # (one statement, one index seek per type: this runs on every professional's request)
        sql = "SELECT " + ", ".join("(SELECT max(seq) FROM history WHERE type = ?)" for _ in resource_types)
        return tuple(self._conn.execute(sql, resource_types).fetchone())

    async def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredVersion | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM history WHERE type = ? AND id = ? AND version_id = ?",
            (resource_type, resource_id, version_id),
        ).fetchone()
        return _version(row) if row else None

    async def search(self, query: SearchQuery) -> Page:
        conditions = start_from_most_selective(SqlTranslator().criteria(query.criteria, query.resource_type, "r"))
        # With a selective "rid IN (…)" criterion, keep SQLite from walking every resource of the
        # type through the type index ("+" makes the term unindexable): look matches up by rid.
        narrowed = any(driving_criterion(c) for c in query.criteria)
        conds = ["+r.type = ?" if narrowed else "r.type = ?", "r.body IS NOT NULL"]
        args: list[Any] = [query.resource_type]
        for condition in conditions:
            conds.append(condition.sql)
            args.extend(condition.args)
        where = " AND ".join(conds)
        total = self._count(where, args, conditions) if query.with_total else None
        keys = [(sort_expression(k, "r"), k.descending) for k in query.sort] + [("r.rid", False)]
        return self._page("resources r", _prefixed(_COLUMNS, "r"), where, args, keys, query.cursor, query.count, total)

    def _count(self, where: str, args: list[Any], conditions: list[Condition]) -> int:
        """Matches of a search. When every condition is a sub-select of index rows (which exist
        only for current resources) the count comes from the index alone, several times faster."""
        if conditions and all(c.rids is not None for c in conditions):
            selects = [c.rids for c in conditions]  # type: ignore[misc]
            compound = " INTERSECT ".join(f"SELECT rid FROM ({sql})" for sql, _ in selects)
            sql = (
                f"SELECT count(*) FROM ({compound})"
                if len(selects) > 1
                else f"SELECT count(DISTINCT rid) FROM ({compound})"
            )
            return self._conn.execute(sql, [a for _, sub_args in selects for a in sub_args]).fetchone()[0]
        return self._conn.execute(f"SELECT count(*) FROM resources r WHERE {where}", args).fetchone()[0]

    async def history(self, query: HistoryQuery) -> Page:
        conds, args = ["1"], []
        if query.resource_type and query.resource_id:
            # by rid (index history_rid (rid, seq)): "type = ? AND id = ?" made SQLite walk the
            # type's whole history in seq order (history_type), ~200 ms for one Composition of 20,000
            conds.append("h.rid = (SELECT rid FROM resources WHERE type = ? AND id = ?)")
            args += [query.resource_type, query.resource_id]
        elif query.resource_type:
            conds.append("h.type = ?")
            args.append(query.resource_type)
        if query.since_us is not None:
            conds.append("h.lu_us >= ?")
            args.append(query.since_us)
        where = " AND ".join(conds)
        total = self._conn.execute(f"SELECT count(*) FROM history h WHERE {where}", args).fetchone()[0]
        keys = [("h.seq", True)]
        return self._page("history h", _prefixed(_COLUMNS, "h"), where, args, keys, query.cursor, query.count, total)

    async def count(self, resource_type: str) -> int:
        sql = "SELECT count(*) FROM resources WHERE type = ? AND body IS NOT NULL"
        return self._conn.execute(sql, (resource_type,)).fetchone()[0]

    async def include(
        self, sources: list[StoredVersion], param: str, target_type: str | None, limit: int
    ) -> list[StoredVersion]:
        found: list[StoredVersion] = []
        for source_type, ids in _ids_by_type(sources).items():
            if len(found) >= limit:
                break
            sql = (
                f"SELECT {_prefixed(_COLUMNS, 't')} FROM resources s JOIN idx_reference ref ON ref.rid = s.rid "
                "JOIN resources t ON t.type = ref.target_type AND t.id = ref.target_id "
                "WHERE s.type = ? AND s.id IN (SELECT value FROM json_each(?)) AND ref.param = ? AND t.body IS NOT NULL"
            )
            args: list[Any] = [source_type, orjson.dumps(ids).decode(), param]
            if target_type:
                sql += " AND ref.target_type = ?"
                args.append(target_type)
            found += [_version(row) for row in self._conn.execute(sql + " LIMIT ?", [*args, limit - len(found)])]
        return found

    async def revinclude(
        self, targets: list[StoredVersion], source_type: str, param: str, limit: int
    ) -> list[StoredVersion]:
        found: list[StoredVersion] = []
        for target_type, ids in _ids_by_type(targets).items():
            if len(found) >= limit:
                break
            sql = (
                f"SELECT {_prefixed(_COLUMNS, 's')} FROM idx_reference ref JOIN resources s ON s.rid = ref.rid "
                "WHERE ref.type = ? AND ref.param = ? AND ref.target_type = ? "
                "AND ref.target_id IN (SELECT value FROM json_each(?)) AND s.body IS NOT NULL"
            )
            args = [source_type, param, target_type, orjson.dumps(ids).decode()]
            found += [_version(row) for row in self._conn.execute(sql + " LIMIT ?", [*args, limit - len(found)])]
        return found

    async def all_versions(self, batch: int = 500) -> AsyncIterator[StoredVersion]:
        after = 0
        while True:
            rows = self._conn.execute(
                f"SELECT seq, {_COLUMNS} FROM history WHERE seq > ? ORDER BY seq LIMIT ?", (after, batch)
            ).fetchall()
            for row in rows:
                yield _version(row[1:])
            if len(rows) < batch:
                return
            after = rows[-1][0]

    async def index_entries(self, resource_type: str, resource_id: str) -> ResourceIndex | None:
        row = self._conn.execute(
            "SELECT rid FROM resources WHERE type = ? AND id = ?", (resource_type, resource_id)
        ).fetchone()
        if row is None:
            return None
        index = ResourceIndex()
        for field, (table, columns) in INDEX_ROWS.items():
            entry_class = INDEX_ENTRY_CLASSES[field]
            for values in self._conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE rid = ?", (row[0],)):
                getattr(index, field).append(entry_class(*values))
        return index

    def _page(
        self,
        source: str,
        columns: str,
        where: str,
        args: list[Any],
        keys: list[tuple[str, bool]],
        cursor: str | None,
        count: int,
        total: int | None,
    ) -> Page:
        """Keyset paging on (sort keys…, unique key): pages never skip or repeat rows when
        others are inserted or deleted meanwhile. An 'a' cursor walks on, a 'b' cursor back."""
        position = decode_cursor(cursor, len(keys))
        forward = position is None or position[0] == "a"
        key_list = ", ".join(expr for expr, _ in keys)
        select = f"SELECT {key_list}, {columns} FROM {source} WHERE {where}"
        sql, page_args = select, list(args)
        if position is not None:
            cond, cond_args = keyset_condition(keys, position[1], after=forward)
            sql += f" AND ({cond})"
            page_args += cond_args
        order = ", ".join(f"{expr} {'DESC' if desc == forward else 'ASC'}" for expr, desc in keys)
        sql += f" ORDER BY {order} LIMIT ?"
        page_args.append(count + 1)
        rows = self._conn.execute(sql, page_args).fetchall()
        more = len(rows) > count
        rows = rows[:count]
        if not forward:
            rows.reverse()
        if not rows:
            return Page([], total, None, None)
        n = len(keys)
        first, last = list(rows[0][:n]), list(rows[-1][:n])

        def exists_beyond(values: list[Any], after: bool) -> bool:
            cond, cond_args = keyset_condition(keys, values, after=after)
            return self._conn.execute(f"{select} AND ({cond}) LIMIT 1", [*args, *cond_args]).fetchone() is not None

        has_next = more if forward else exists_beyond(last, after=True)
        has_previous = more if not forward else position is not None and exists_beyond(first, after=False)
        return Page(
            [_version(row[n:]) for row in rows],
            total,
            encode_cursor("a", last) if has_next else None,
            encode_cursor("b", first) if has_previous else None,
        )


async def _finish_in_thread(function: Callable[..., Any], *args: Any) -> tuple[asyncio.Future[Any], bool]:
    """Run ``function`` in a worker thread and wait for its end even through cancellations (the
    connection must never be used by two threads at once): the finished future, and whether the
    waiting task was cancelled meanwhile."""
    return await finish(asyncio.to_thread(function, *args))


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def _ids_by_type(versions: list[StoredVersion]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for v in versions:
        grouped.setdefault(v.type, []).append(v.id)
    return grouped


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

    async def reindex(
        self, resource_type: str, after: str | None, limit: int, extract: Callable[[bytes], ResourceIndex]
    ) -> tuple[int, str | None]:
        start = int(after) if after and ascii_digits(after) else 0
        rows = self._conn.execute(
            "SELECT rid, body FROM resources WHERE type = ? AND body IS NOT NULL AND rid > ? ORDER BY rid LIMIT ?",
            (resource_type, start, limit),
        ).fetchall()
        for rid, body in rows:
            for table in INDEX_TABLES:
                self._conn.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))
            self._insert_index(rid, resource_type, extract(body))
        return len(rows), (str(rows[-1][0]) if len(rows) == limit else None)

    async def create_many(self, created: list[tuple[StoredVersion, ResourceIndex]]) -> None:
        """In a worker thread: SQLite releases the GIL while it inserts, so a large batch (the audit
        trail's) does not stop the event loop."""
        done, cancelled = await _finish_in_thread(self._create_many, created)
        if done.exception() is not None:
            raise done.exception()  # type: ignore[misc]
        if cancelled:
            raise asyncio.CancelledError

    def _create_many(self, created: list[tuple[StoredVersion, ResourceIndex]]) -> None:
        conn = self._conn
        rows = []
        for version, _ in created:
            values = (version.type, version.id, version.version_id, version.last_updated,
                      version.last_updated_us, version.method, version.body)  # fmt: skip
            rid = conn.execute(f"INSERT INTO resources ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", values).lastrowid
            rows.append((rid, *values))
        conn.executemany(f"INSERT INTO history (rid, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._insert_indexes([(row[0], row[1], index) for row, (_, index) in zip(rows, created, strict=True)])

    def _insert_index(self, rid: int, rtype: str, index: ResourceIndex) -> None:
        self._insert_indexes([(rid, rtype, index)])

    def _insert_indexes(self, indexes: list[tuple[int, str, ResourceIndex]]) -> None:
        """One ``executemany`` per index table for all of them."""
        for field, (table, columns) in INDEX_ROWS.items():
            rows = [
                (rid, rtype, *(getattr(e, c) for c in columns))
                for rid, rtype, index in indexes
                for e in getattr(index, field)
            ]
            if rows:
                marks = ", ".join("?" * (len(columns) + 2))
                self._conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


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
            await self._commit()

    async def _commit(self) -> None:
        """COMMIT in a worker thread: its fsync (``synchronous=FULL``) then does not stop the event
        loop, and reads go on through their own connection. The lock is held until it is done,
        even when the waiting task is cancelled (e.g. by the request time limit); a commit that
        succeeded is then reported as such, so an error answer always means "not written"."""
        done, _ = await _finish_in_thread(self._writer.execute, "COMMIT")
        error = done.exception()
        if error is not None:
            if self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
            raise error

    async def close(self) -> None:
        self._conn.close()
        self._writer.close()
