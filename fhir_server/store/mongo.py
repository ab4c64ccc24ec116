"""The scale-out store: MongoDB through PyMongo's native async API (``pymongo.AsyncMongoClient``).

Document model and indexes: :mod:`.mongo_schema`; query translation: :mod:`.mongo_search`.
Writes run in multi-document transactions (snapshot reads, write concern majority);
a deployment that cannot run them (a standalone ``mongod``) gets a 503 with the reason,
never a partial write. Every MongoDB call is bounded: an unreachable server answers
:class:`ServiceUnavailable` after ``serverSelectionTimeoutMS`` and the client reconnects by
itself when the server is back. Within one process, transactions are serialised (as in
SQLite). Across processes, snapshot isolation alone would let two conditional creates both
find nothing and both insert: each conditional interaction therefore also writes a claim
document keyed by its type and criteria, so of two racing transactions one fails with a write
conflict (:class:`TransactionConflict`) and its request runs again, finding the winner's resource.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import pymongo.errors as mongo_errors
from pymongo import AsyncMongoClient
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from fhir_server.errors import FhirError, ServiceUnavailable
from fhir_server.fhir.index_model import ResourceIndex
from fhir_server.fhir.search.query import HistoryQuery, SearchQuery
from fhir_server.fhir.text import ascii_digits
from fhir_server.store.base import Page, Store, StoredVersion, StoreReader, StoreTransaction
from fhir_server.store.cancellation import cancellation_pending, finish, raise_lost_cancellation
from fhir_server.store.conflicts import TransactionConflict
from fhir_server.store.cursors import decode_cursor, encode_cursor
from fhir_server.store.mongo_schema import (
    CLAIM_INDEXES,
    CLAIMS,
    HISTORY,
    HISTORY_INDEXES,
    RESOURCE_INDEXES,
    RESOURCES,
    embed_index,
    patient_compartment,
    read_index,
)
from fhir_server.store.mongo_search import Filter, MongoTranslator, keyset_filter, sort_field

DEFAULT_OPTIONS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000, "socketTimeoutMS": 30000}
_VERSION_FIELDS = {"type": 1, "id": 1, "version_id": 1, "last_updated": 1, "lu_us": 1, "method": 1, "body": 1}
_NO_TRANSACTIONS = 20  # IllegalOperation: "Transaction numbers are only allowed on a replica set member or mongos"
_WRITE_CONFLICT = 112
T = TypeVar("T")


def _version(doc: dict[str, Any]) -> StoredVersion:
    body = doc.get("body")
    return StoredVersion(
        doc["type"], doc["id"], doc["version_id"], doc["last_updated"], doc["lu_us"], doc["method"],
        bytes(body) if body is not None else None,
    )  # fmt: skip


def _translate_error(exc: Exception) -> FhirError:
    if isinstance(exc, mongo_errors.DuplicateKeyError):
        return TransactionConflict("a concurrent write changed this resource; retry the request")
    if isinstance(exc, mongo_errors.OperationFailure):
        if exc.code == _NO_TRANSACTIONS or "Transaction numbers" in str(exc):
            return ServiceUnavailable(
                "the MongoDB deployment cannot run transactions: a replica set or sharded cluster is required"
            )
        # MongoDB reports a conflict at the write (WriteConflict, labelled transient); some
        # implementations (mongoeco) only at commit, as "Write conflict during transaction commit"
        if (
            exc.has_error_label("TransientTransactionError")
            or exc.code == _WRITE_CONFLICT
            or ("write conflict" in str(exc).lower())
        ):
            return TransactionConflict("a concurrent transaction changed the same resources; retry the request")
    if isinstance(exc, mongo_errors.ConnectionFailure | mongo_errors.ServerSelectionTimeoutError):
        return ServiceUnavailable("the database (MongoDB) is unreachable; retry later")
    if isinstance(exc, mongo_errors.ExecutionTimeout | mongo_errors.WTimeoutError):
        return ServiceUnavailable("the database (MongoDB) did not answer in time; retry later")
    return ServiceUnavailable(f"database error: {exc}")


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """MongoDB errors leave the store as FhirErrors (503 or 409), never as driver exceptions; a
    cancellation the driver swallowed (:mod:`.cancellation`) is raised again once the call is back."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await method(*args, **kwargs)  # type: ignore[misc]
        except mongo_errors.PyMongoError as exc:
            if cancellation_pending():
                raise asyncio.CancelledError from exc
            raise _translate_error(exc) from exc
        raise_lost_cancellation()
        return result

    return wrapper  # type: ignore[return-value]


class _MongoReader(StoreReader):
    def __init__(self, db: Any, session: Any = None):
        self._db = db
        self._session = session
        self._resources = db[RESOURCES]
        self._history = db[HISTORY]

    async def _ready(self) -> None:
        """Hook for the store: indexes are made before the first operation."""

    @_guarded
    async def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        await self._ready()
        doc = await self._resources.find_one(
            {"_id": f"{resource_type}/{resource_id}"}, _VERSION_FIELDS, session=self._session
        )
        return _version(doc) if doc else None

    @_guarded
    async def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredVersion | None:
        await self._ready()
        doc = await self._history.find_one(
            {"type": resource_type, "id": resource_id, "version_id": version_id}, _VERSION_FIELDS, session=self._session
        )
        return _version(doc) if doc else None

    # -- search -----------------------------------------------------------------------------
    def _translator(self) -> MongoTranslator:
        return MongoTranslator(self._matching_ids, self._referenced_ids)

    async def _matching_ids(self, resource_type: str, flt: Filter) -> list[str]:
        from fhir_server.store.mongo_search import MAX_CHAIN_IDS

        query = {"type": resource_type, "body": {"$ne": None}, **_and(flt)}
        cursor = self._resources.find(query, {"id": 1, "_id": 0}, session=self._session).limit(MAX_CHAIN_IDS + 1)
        return [doc["id"] async for doc in cursor]

    async def _referenced_ids(self, source_type: str, flt: Filter, param: str, target_type: str) -> list[str]:
        from fhir_server.store.mongo_search import MAX_CHAIN_IDS

        query = {"type": source_type, "body": {"$ne": None}, **_and(flt)}
        cursor = self._resources.find(query, {"idx.reference": 1, "_id": 0}, session=self._session)
        found: dict[str, None] = {}
        async for doc in cursor:
            for ref in (doc.get("idx") or {}).get("reference", []):
                if ref.get("p") == param and ref.get("tt") == target_type and ref.get("ti") is not None:
                    found[ref["ti"]] = None
            if len(found) > MAX_CHAIN_IDS:
                break
        return list(found)

    @_guarded
    async def search(self, query: SearchQuery) -> Page:
        await self._ready()
        criteria = await self._translator().criteria(query.criteria, query.resource_type)
        match = {"type": query.resource_type, "body": {"$ne": None}, **_and(criteria)}
        total = await self._resources.count_documents(match, session=self._session) if query.with_total else None
        fields: list[tuple[str, bool]] = []
        computed: dict[str, Any] = {}
        for n, key in enumerate(query.sort):
            if key.kind == "id":
                fields.append(("id", key.descending))
            elif key.kind == "lastUpdated":
                fields.append(("lu_us", key.descending))
            else:
                path, missing = sort_field(key)  # type: ignore[misc]
                computed[f"_k{n}"] = {"$ifNull": [f"${path}", missing]}
                fields.append((f"_k{n}", key.descending))
        fields.append(("seq", False))
        return await self._page(self._resources, match, computed, fields, query.cursor, query.count, total)

    @_guarded
    async def history(self, query: HistoryQuery) -> Page:
        await self._ready()
        match: Filter = {}
        if query.resource_type:
            match["type"] = query.resource_type
        if query.resource_id:
            match["id"] = query.resource_id
        if query.since_us is not None:
            match["lu_us"] = {"$gte": query.since_us}
        total = await self._history.count_documents(match, session=self._session)
        return await self._page(self._history, match, {}, [("seq", True)], query.cursor, query.count, total)

    async def _page(
        self,
        collection: Any,
        match: Filter,
        computed: dict[str, Any],
        fields: list[tuple[str, bool]],
        cursor: str | None,
        count: int,
        total: int | None,
    ) -> Page:
        """Keyset paging on (sort keys…, seq), as the SQLite store: an 'a' cursor walks on, a
        'b' cursor back; pages never skip or repeat documents when others change meanwhile."""
        position = decode_cursor(cursor, len(fields))
        forward = position is None or position[0] == "a"
        head: list[dict[str, Any]] = [{"$match": match}]
        if computed:
            head.append({"$addFields": computed})
        pipeline = list(head)
        if position is not None:
            pipeline.append({"$match": keyset_filter(fields, position[1], after=forward)})
        order = {name: (-1 if descending == forward else 1) for name, descending in fields}
        pipeline += [{"$sort": order}, {"$limit": count + 1}]
        docs = await (await collection.aggregate(pipeline, session=self._session)).to_list(None)
        more = len(docs) > count
        docs = docs[:count]
        if not forward:
            docs.reverse()
        if not docs:
            return Page([], total, None, None)
        first = [docs[0][name] for name, _ in fields]
        last = [docs[-1][name] for name, _ in fields]

        async def exists_beyond(values: list[Any], after: bool) -> bool:
            probe = [
                *head,
                {"$match": keyset_filter(fields, values, after=after)},
                {"$limit": 1},
                {"$project": {"_id": 1}},
            ]
            return bool(await (await collection.aggregate(probe, session=self._session)).to_list(None))

        has_next = more if forward else await exists_beyond(last, after=True)
        has_previous = more if not forward else position is not None and await exists_beyond(first, after=False)
        return Page(
            [_version(doc) for doc in docs],
            total,
            encode_cursor("a", last) if has_next else None,
            encode_cursor("b", first) if has_previous else None,
        )

    @_guarded
    async def count(self, resource_type: str) -> int:
        await self._ready()
        return await self._resources.count_documents(
            {"type": resource_type, "body": {"$ne": None}}, session=self._session
        )

    @_guarded
    async def include(
        self, sources: list[StoredVersion], param: str, target_type: str | None, limit: int
    ) -> list[StoredVersion]:
        await self._ready()
        keys: dict[str, None] = {}
        cursor = self._resources.find(
            {"_id": {"$in": [f"{s.type}/{s.id}" for s in sources]}}, {"idx.reference": 1}, session=self._session
        )
        async for doc in cursor:
            for ref in (doc.get("idx") or {}).get("reference", []):
                if ref.get("p") != param or not ref.get("tt") or ref.get("ti") is None:
                    continue
                if target_type is None or ref["tt"] == target_type:
                    keys[f"{ref['tt']}/{ref['ti']}"] = None
        if not keys:
            return []
        found = self._resources.find(
            {"_id": {"$in": list(keys)}, "body": {"$ne": None}}, _VERSION_FIELDS, session=self._session
        ).limit(limit)
        return [_version(doc) async for doc in found]

    @_guarded
    async def revinclude(
        self, targets: list[StoredVersion], source_type: str, param: str, limit: int
    ) -> list[StoredVersion]:
        await self._ready()
        found: list[StoredVersion] = []
        for target_type, ids in _ids_by_type(targets).items():
            if len(found) >= limit:
                break
            cursor = (
                self._resources.find(
                    {
                        "type": source_type,
                        "body": {"$ne": None},
                        "idx.reference": {"$elemMatch": {"p": param, "tt": target_type, "ti": {"$in": ids}}},
                    },
                    _VERSION_FIELDS,
                    session=self._session,
                )
                .sort("seq", 1)
                .limit(limit - len(found))
            )
            found += [_version(doc) async for doc in cursor]
        return found

    # -- export (copy-store) ----------------------------------------------------------------
    async def all_versions(self, batch: int = 500) -> AsyncIterator[StoredVersion]:
        await self._guarded_ready()
        after = -1
        while True:
            try:
                cursor = self._history.find(
                    {"seq": {"$gt": after}}, {**_VERSION_FIELDS, "seq": 1}, session=self._session
                )
                docs = await cursor.sort("seq", 1).limit(batch).to_list(None)
            except mongo_errors.PyMongoError as exc:
                raise _translate_error(exc) from exc
            for doc in docs:
                yield _version(doc)
            if len(docs) < batch:
                return
            after = docs[-1]["seq"]

    async def _guarded_ready(self) -> None:
        try:
            await self._ready()
        except mongo_errors.PyMongoError as exc:
            raise _translate_error(exc) from exc

    @_guarded
    async def index_entries(self, resource_type: str, resource_id: str) -> ResourceIndex | None:
        await self._ready()
        doc = await self._resources.find_one(
            {"_id": f"{resource_type}/{resource_id}"}, {"idx": 1}, session=self._session
        )
        return read_index(doc) if doc is not None else None


def _and(flt: Filter) -> Filter:
    """A filter to merge into a query beside type/body: any top-level keys kept apart."""
    return {"$and": [flt]} if flt else {}


def _ids_by_type(versions: list[StoredVersion]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for v in versions:
        grouped.setdefault(v.type, []).append(v.id)
    return grouped


class SequenceClock:
    """Unique, increasing ``seq`` values without a counter document: the time in µs times 64
    plus 6 random bits per process, never below the last value given out. No hot document
    and no write outside the transaction; two processes collide only in the same µs with the
    same bits, and then the unique index refuses the write (409, retry)."""

    def __init__(self) -> None:
        self._node = secrets.randbelow(64)
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 64, time.time_ns() // 1000 * 64 + self._node)
        return self._last


class _MongoTransaction(_MongoReader, StoreTransaction):
    def __init__(self, db: Any, session: Any, clock: SequenceClock):
        super().__init__(db, session)
        self._clock = clock

    @_guarded
    async def write(self, version: StoredVersion, index: ResourceIndex | None) -> None:
        key = f"{version.type}/{version.id}"
        current = await self._resources.find_one({"_id": key}, {"seq": 1}, session=self._session)
        seq = current["seq"] if current else self._clock.next()
        fields = {
            "type": version.type,
            "id": version.id,
            "version_id": version.version_id,
            "last_updated": version.last_updated,
            "lu_us": version.last_updated_us,
            "method": version.method,
            "body": version.body,
        }
        idx, sort_keys = embed_index(index if version.body is not None else None)
        pc = patient_compartment(version.type, version.id, index)
        doc = {"_id": key, **fields, "seq": seq, "pc": pc, "idx": idx, "sk": sort_keys}
        await self._resources.replace_one({"_id": key}, doc, upsert=True, session=self._session)
        history_doc = {"_id": f"{key}/_history/{version.version_id}", **fields, "seq": self._clock.next(), "pc": pc}
        await self._history.insert_one(history_doc, session=self._session)

    @_guarded
    async def claim(self, resource_type: str, criteria: list[tuple[str, str]]) -> None:
        """Write the criteria's claim document: a concurrent transaction claiming the same
        criteria (the same parameters in any order) then conflicts with this one."""
        key = f"{resource_type}?{urlencode(sorted(criteria))}"
        now = datetime.now(UTC)
        await self._db[CLAIMS].update_one({"_id": key}, {"$set": {"at": now}}, upsert=True, session=self._session)

    @_guarded
    async def reindex(
        self, resource_type: str, after: str | None, limit: int, extract: Callable[[bytes], ResourceIndex]
    ) -> tuple[int, str | None]:
        start = int(after) if after and ascii_digits(after) else -1
        cursor = self._resources.find(
            {"type": resource_type, "body": {"$ne": None}, "seq": {"$gt": start}},
            {"body": 1, "seq": 1, "id": 1},
            session=self._session,
        )
        docs = await cursor.sort("seq", 1).limit(limit).to_list(None)
        for doc in docs:
            index = extract(bytes(doc["body"]))
            idx, sort_keys = embed_index(index)
            pc = patient_compartment(resource_type, doc["id"], index)
            await self._resources.update_one(
                {"_id": doc["_id"]}, {"$set": {"idx": idx, "sk": sort_keys, "pc": pc}}, session=self._session
            )
        return len(docs), (str(docs[-1]["seq"]) if len(docs) == limit else None)


class MongoStore(_MongoReader, Store):
    """``url``: a MongoDB connection string; its path names the database (default ``fhir``)."""

    def __init__(self, url: str, database: str = "fhir"):
        options = {k: v for k, v in DEFAULT_OPTIONS.items() if k.lower() not in _uri_options(url)}
        self._client: AsyncMongoClient = AsyncMongoClient(url, w="majority", **options)
        db = self._client.get_default_database(default=database, write_concern=WriteConcern("majority"))
        super().__init__(db)
        self._clock = SequenceClock()
        self._lock = asyncio.Lock()
        self._indexed = False

    async def _ready(self) -> None:
        """Create the collections' indexes once (idempotent); retried while MongoDB is away."""
        if self._indexed:
            return
        await self._resources.create_indexes(RESOURCE_INDEXES)
        await self._history.create_indexes(HISTORY_INDEXES)
        await self._db[CLAIMS].create_indexes(CLAIM_INDEXES)
        self._indexed = True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StoreTransaction]:
        """One MongoDB transaction. A cancellation (the request time limit) before the COMMIT
        aborts it, also one the driver swallowed; the COMMIT and the abort, once started, run to
        their end: a COMMIT that succeeded is reported as such, so a cancelled request (503)
        has written nothing, and the session goes back to the pool in a known state."""
        async with self._lock:
            await self._guarded_ready()
            session = self._client.start_session()
            try:
                try:
                    await session.start_transaction(
                        read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
                    )
                except mongo_errors.PyMongoError as exc:
                    raise _translate_error(exc) from exc
                try:
                    yield _MongoTransaction(self._db, session, self._clock)
                    raise_lost_cancellation()  # never COMMIT work that was cancelled meanwhile
                except BaseException:
                    if session.in_transaction:
                        aborted, _ = await finish(session.abort_transaction())
                        aborted.exception()  # an error: the server discards the transaction by itself
                    raise
                committed, _ = await finish(session.commit_transaction())
                error = committed.exception()
                if isinstance(error, mongo_errors.PyMongoError):
                    raise _translate_error(error) from error
                if error is not None:
                    raise error
            finally:
                ended, _ = await finish(session.end_session())
                ended.exception()

    async def close(self) -> None:
        await self._client.close()


def _uri_options(url: str) -> set[str]:
    """Option names given in the connection string (they win over our defaults); no DNS lookup."""
    return {name.lower() for name in parse_qs(urlsplit(url).query)}
