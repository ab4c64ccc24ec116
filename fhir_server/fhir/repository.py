"""The FHIR repository: versioning, validation, indexing and conditional logic over a store.

One method per interaction of https://hl7.org/fhir/R4/http.html. Every write method takes
an optional open transaction, so a transaction Bundle can run many of them atomically.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

import jsonpatch
import orjson

from fhir_server.errors import BadRequest, Conflict, Gone, Issue, NotFound, PreconditionFailed, Unprocessable
from fhir_server.fhir.index_model import ResourceIndex
from fhir_server.fhir.indexing import IndexExtractor
from fhir_server.fhir.search.includes import resolve_includes
from fhir_server.fhir.search.parser import ParsedSearch, SearchParser
from fhir_server.fhir.search.query import HistoryQuery
from fhir_server.fhir.search.restriction import SearchRestriction, restrict_query
from fhir_server.fhir.text import ascii_digits
from fhir_server.fhir.validation import validate_structure
from fhir_server.store.base import Page, Store, StoredVersion, StoreReader, StoreTransaction


@dataclass(frozen=True, slots=True)
class WriteResult:
    status: int  # 200 or 201 (204 for deletions)
    version: StoredVersion | None  # None when a delete matched nothing


def format_instant(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_etag(value: str) -> int:
    """``W/"3"`` or ``"3"`` → 3 (https://hl7.org/fhir/R4/http.html#concurrency)."""
    text = value.strip().removeprefix("W/").strip('"')
    if not ascii_digits(text):
        raise BadRequest(f"'{value}' is not a version ETag such as W/\"3\"")
    return int(text)


class _Clock:
    """Strictly increasing microseconds, so lastUpdated never ties within a process."""

    def __init__(self) -> None:
        self._last = 0

    def now_us(self) -> int:
        self._last = max(time.time_ns() // 1000, self._last + 1)
        return self._last


_clock = _Clock()


def load_json(resource: StoredVersion) -> dict[str, Any]:
    assert resource.body is not None
    return orjson.loads(resource.body)


class WriteHook(Protocol):
    """Domain reactions to writes: ``check`` may refuse a resource before it is stored,
    ``committed`` learns of each version once its transaction has committed."""

    def check(self, resource: dict[str, Any]) -> None: ...

    def committed(self, version: StoredVersion) -> None: ...


class WriteGuard(Protocol):
    """A rule that needs to read the store to allow a write (e.g. only the patient's MR may
    write the résumé patient); raises a FhirError (403, 422…) to refuse it."""

    async def guard(self, resource: dict[str, Any], reader: StoreReader) -> None: ...


_written: ContextVar[list[StoredVersion] | None] = ContextVar("_written", default=None)


class Repository:
    def __init__(self, store: Store, extractor: IndexExtractor, parser: SearchParser):
        self.store = store
        self.extractor = extractor
        self.parser = parser
        self.hooks: list[WriteHook] = []
        self.guards: list[WriteGuard] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StoreTransaction]:
        """A store transaction whose writes are announced to the hooks after it commits."""
        written: list[StoredVersion] = []
        token = _written.set(written)
        try:
            async with self.store.transaction() as tx:
                yield tx
        finally:
            _written.reset(token)
        for version in written:
            for hook in self.hooks:
                hook.committed(version)

    @asynccontextmanager
    async def use_transaction(self, tx: StoreTransaction | None) -> AsyncIterator[StoreTransaction]:
        """The caller's open transaction, or a new one (a batch entry, or a call of its own)."""
        if tx is not None:
            yield tx
        else:
            async with self.transaction() as own:
                yield own

    async def _store_version(self, t: StoreTransaction, version: StoredVersion, index: ResourceIndex | None) -> None:
        await t.write(version, index)
        written = _written.get()
        if written is not None:
            written.append(version)

    # -- reads -------------------------------------------------------------------------------

    async def read(self, resource_type: str, resource_id: str, reader: StoreReader | None = None) -> StoredVersion:
        found = await (reader or self.store).read(resource_type, resource_id)
        if found is None:
            raise NotFound(f"{resource_type}/{resource_id} is not known")
        if found.deleted:
            raise Gone(f"{resource_type}/{resource_id} was deleted (version {found.version_id})")
        return found

    async def vread(
        self, resource_type: str, resource_id: str, version: str, reader: StoreReader | None = None
    ) -> StoredVersion:
        if not ascii_digits(version):
            raise NotFound(f"{resource_type}/{resource_id} has no version '{version}'")
        found = await (reader or self.store).vread(resource_type, resource_id, int(version))
        if found is None:
            raise NotFound(f"{resource_type}/{resource_id} has no version {version}")
        if found.deleted:
            raise Gone(f"Version {version} of {resource_type}/{resource_id} is a deletion")
        return found

    async def search(
        self,
        resource_type: str,
        params: list[tuple[str, str]],
        *,
        strict: bool = False,
        reader: StoreReader | None = None,
        restriction: SearchRestriction | None = None,
    ) -> tuple[ParsedSearch, Page, list[StoredVersion]]:
        """Matches of one page, and the resources its _include/_revinclude bring along; with a
        restriction, only what it lets through (before paging and counting)."""
        parsed = self.parser.parse(resource_type, params, strict=strict)
        source = reader or self.store
        query = parsed.query if restriction is None else await restrict_query(parsed.query, restriction)
        page = await source.search(query)
        included: list[StoredVersion] = []
        if parsed.query.includes:
            limit = self.parser.limits.max_included
            included, truncated = await resolve_includes(source, parsed.query.includes, page.items, limit, restriction)
            if truncated:
                parsed.issues.append(
                    Issue(
                        "too-costly",
                        f"_include/_revinclude stopped at {limit} resources per parameter: some are missing; "
                        "use a smaller _count",
                        severity="warning",
                    )
                )
        return parsed, page, included

    async def history(self, query: HistoryQuery) -> Page:
        return await self.store.history(query)

    # -- writes ------------------------------------------------------------------------------

    async def create(
        self,
        resource_type: str,
        resource: Any,
        *,
        if_none_exist: str | None = None,
        resource_id: str | None = None,
        tx: StoreTransaction | None = None,
    ) -> WriteResult:
        """POST: the server chooses the id (``resource_id`` lets a transaction choose it first)."""
        validate_structure(resource, resource_type)
        async with self.use_transaction(tx) as t:
            if if_none_exist is not None:
                existing = await self.match(resource_type, if_none_exist, t, "If-None-Exist")
                if existing is not None:
                    return WriteResult(200, existing)
            new_id = resource_id or str(uuid.uuid4())
            version = await self._write(t, resource_type, new_id, resource, previous=None, method="POST")
        return WriteResult(201, version)

    def prepare_trusted(self, resource_type: str, resource: dict[str, Any]) -> tuple[StoredVersion, ResourceIndex]:
        """A new version of a resource the server built itself (an AuditEvent), with its index, for
        :meth:`create_trusted_many`; no validation or access guards, which would cost more than the
        write (its builder's tests validate its shape). Raises what the write hooks refuse."""
        for hook in self.hooks:
            hook.check(resource)
        version, stored = self._new_version(resource_type, str(uuid.uuid4()), resource, None, "POST")
        return version, self.extractor.extract(stored)

    async def create_trusted_many(
        self, prepared: list[tuple[StoredVersion, ResourceIndex]], tx: StoreTransaction
    ) -> None:
        """Store what :meth:`prepare_trusted` made, in one store call (new ids: no existence check)."""
        await tx.create_many(prepared)
        written = _written.get()
        if written is not None:
            written.extend(version for version, _ in prepared)

    async def update(
        self,
        resource_type: str,
        resource_id: str,
        resource: Any,
        *,
        if_match: str | None = None,
        tx: StoreTransaction | None = None,
        checked: tuple[WriteHook, ...] | None = None,
    ) -> WriteResult:
        """``checked``: the caller has validated the structure and run these hooks' ``check`` itself
        (``fhir-server load`` does, in worker processes); guards and the other hooks still run."""
        if checked is None:
            validate_structure(resource, resource_type)
        body_id = resource.get("id")
        if body_id is None:
            raise BadRequest("An update needs the resource's id in the body", expression=f"{resource_type}.id")
        if body_id != resource_id:
            raise BadRequest(
                f"Body id '{body_id}' does not match URL id '{resource_id}'", expression=f"{resource_type}.id"
            )
        async with self.use_transaction(tx) as t:
            previous = await t.read(resource_type, resource_id)
            self._check_if_match(previous, if_match)
            version = await self._write(t, resource_type, resource_id, resource, previous, "PUT", checked or ())
        created = previous is None or previous.deleted
        return WriteResult(201 if created else 200, version)

    async def conditional_update(
        self,
        resource_type: str,
        criteria: str,
        resource: Any,
        *,
        if_match: str | None = None,
        tx: StoreTransaction | None = None,
    ) -> WriteResult:
        validate_structure(resource, resource_type)
        async with self.use_transaction(tx) as t:
            match = await self.match(resource_type, criteria, t, "conditional update")
            if match is None:
                resource_id = resource.get("id") or str(uuid.uuid4())
                return await self.update(
                    resource_type, resource_id, {**resource, "id": resource_id}, if_match=if_match, tx=t
                )
            if resource.get("id", match.id) != match.id:
                raise BadRequest(
                    f"Body id '{resource['id']}' differs from the matched resource {resource_type}/{match.id}",
                    expression=f"{resource_type}.id",
                )
            return await self.update(resource_type, match.id, {**resource, "id": match.id}, if_match=if_match, tx=t)

    async def patch(
        self,
        resource_type: str,
        resource_id: str,
        operations: Any,
        *,
        if_match: str | None = None,
        tx: StoreTransaction | None = None,
    ) -> WriteResult:
        if not isinstance(operations, list):
            raise BadRequest("A JSON Patch body must be an array of operations (RFC 6902)")
        async with self.use_transaction(tx) as t:
            current = await self.read(resource_type, resource_id, t)
            self._check_if_match(current, if_match)
            try:
                patched = jsonpatch.apply_patch(load_json(current), operations)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
                raise Unprocessable(f"JSON Patch could not be applied: {exc}") from None
            if not isinstance(patched, dict):
                raise Unprocessable("A patch must leave a resource (a JSON object), not replace it")
            if patched.get("resourceType") != resource_type or patched.get("id") != resource_id:
                raise Unprocessable("A patch may not change resourceType or id")
            validate_structure(patched, resource_type)
            version = await self._write(t, resource_type, resource_id, patched, current, method="PATCH")
        return WriteResult(200, version)

    async def conditional_patch(
        self,
        resource_type: str,
        criteria: str,
        operations: Any,
        *,
        if_match: str | None = None,
        tx: StoreTransaction | None = None,
    ) -> WriteResult:
        async with self.use_transaction(tx) as t:
            match = await self.match(resource_type, criteria, t, "conditional patch")
            if match is None:
                raise NotFound(f"No {resource_type} matches '{criteria}'")
            return await self.patch(resource_type, match.id, operations, if_match=if_match, tx=t)

    async def delete(self, resource_type: str, resource_id: str, *, tx: StoreTransaction | None = None) -> WriteResult:
        """Deleting what is already deleted, or was never there, is a no-op (R4 http.html#delete)."""
        async with self.use_transaction(tx) as t:
            current = await t.read(resource_type, resource_id)
            if current is None or current.deleted:
                return WriteResult(204, None)
            us = _clock.now_us()
            version = StoredVersion(
                resource_type, resource_id, current.version_id + 1, format_instant(us), us, "DELETE", None
            )
            await self._store_version(t, version, None)
        return WriteResult(204, version)

    async def conditional_delete(
        self, resource_type: str, criteria: str, *, tx: StoreTransaction | None = None
    ) -> WriteResult:
        async with self.use_transaction(tx) as t:
            match = await self.match(resource_type, criteria, t, "conditional delete")
            if match is None:
                return WriteResult(204, None)
            return await self.delete(resource_type, match.id, tx=t)

    # -- helpers -----------------------------------------------------------------------------

    async def match(self, resource_type: str, criteria: str, t: StoreTransaction, what: str) -> StoredVersion | None:
        """The one resource matching the criteria, None if none; 412 if several."""
        params = parse_qsl(criteria.lstrip("?"), keep_blank_values=True)
        if not params:
            raise BadRequest(f"{what} needs search criteria")
        parsed = self.parser.parse(resource_type, params + [("_count", "2")], strict=True)
        await t.claim(resource_type, params)
        page = await t.search(parsed.query)
        if len(page.items) > 1:
            raise PreconditionFailed(f"{what}: criteria '{criteria}' match more than one {resource_type}")
        return page.items[0] if page.items else None

    @staticmethod
    def _check_if_match(current: StoredVersion | None, if_match: str | None) -> None:
        if if_match is None:
            return
        wanted = parse_etag(if_match)
        if current is None or current.deleted or current.version_id != wanted:
            have = "none" if current is None or current.deleted else f'W/"{current.version_id}"'
            raise PreconditionFailed(f"If-Match {if_match} does not match the current version ({have})")

    async def _write(
        self,
        t: StoreTransaction,
        resource_type: str,
        resource_id: str,
        resource: dict[str, Any],
        previous: StoredVersion | None,
        method: str,
        checked: tuple[WriteHook, ...] = (),
    ) -> StoredVersion:
        for guard in self.guards:  # who may write comes before what is written (403 before 422)
            await guard.guard(resource, t)
        for hook in self.hooks:
            if hook not in checked:
                hook.check(resource)
        if previous is None:
            previous = await t.read(resource_type, resource_id)
            if previous is not None and method == "POST":
                raise Conflict(f"{resource_type}/{resource_id} exists already")
        version, stored = self._new_version(resource_type, resource_id, resource, previous, method)
        await self._store_version(t, version, self.extractor.extract(stored))
        return version

    @staticmethod
    def _new_version(
        resource_type: str, resource_id: str, resource: dict[str, Any], previous: StoredVersion | None, method: str
    ) -> tuple[StoredVersion, dict[str, Any]]:
        """The version to store, and its content as a dict (to index)."""
        us = _clock.now_us()
        version_id = previous.version_id + 1 if previous is not None else 1
        meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
        stored: dict[str, Any] = {
            "resourceType": resource_type,
            "id": resource_id,
            "meta": {"versionId": str(version_id), "lastUpdated": format_instant(us), **meta},
        }
        stored.update((k, v) for k, v in resource.items() if k not in ("resourceType", "id", "meta"))
        version = StoredVersion(
            resource_type, resource_id, version_id, stored["meta"]["lastUpdated"], us, method, orjson.dumps(stored)
        )
        return version, stored
