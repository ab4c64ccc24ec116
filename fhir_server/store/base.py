"""The storage port: what every backend provides (https://hl7.org/fhir/R4/http.html).

Backends store versions and the index entries extracted from them; they know nothing
of HTTP, validation or conditional logic (that is :mod:`fhir_server.fhir.repository`).
All writes happen inside :meth:`Store.transaction`, which is all-or-nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from fhir_server.fhir.index_model import ResourceIndex
from fhir_server.fhir.search.query import HistoryQuery, SearchQuery


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version of a resource as stored: its JSON bytes carry meta.versionId/lastUpdated."""

    type: str
    id: str
    version_id: int
    last_updated: str  # FHIR instant, UTC
    last_updated_us: int  # same instant in epoch microseconds
    method: str  # POST, PUT, PATCH or DELETE: the interaction that made this version
    body: bytes | None  # None for a deletion

    @property
    def deleted(self) -> bool:
        return self.body is None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of matches, with cursors for the neighbouring pages (None at either end)."""

    items: list[StoredVersion]
    total: int | None
    next_cursor: str | None
    previous_cursor: str | None


class StoreReader(ABC):
    """Reads, available both outside and inside a transaction."""

    @abstractmethod
    async def read(self, resource_type: str, resource_id: str) -> StoredVersion | None:
        """The current version, a deletion marker included; None if the id was never used."""

    @abstractmethod
    async def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredVersion | None: ...

    @abstractmethod
    async def search(self, query: SearchQuery) -> Page: ...

    @abstractmethod
    async def history(self, query: HistoryQuery) -> Page: ...

    @abstractmethod
    async def count(self, resource_type: str) -> int:
        """Current (not deleted) resources of a type."""

    @abstractmethod
    async def include(
        self, sources: list[StoredVersion], param: str, target_type: str | None, limit: int
    ) -> list[StoredVersion]:
        """Current resources that the ``param`` references of ``sources`` point to (_include),
        at most ``limit``."""

    @abstractmethod
    async def revinclude(
        self, targets: list[StoredVersion], source_type: str, param: str, limit: int
    ) -> list[StoredVersion]:
        """Current ``source_type`` resources whose ``param`` references point to ``targets``
        (_revinclude), at most ``limit``."""

    @abstractmethod
    def all_versions(self, batch: int = 500) -> AsyncIterator[StoredVersion]:
        """Every stored version of every resource, deletions included, oldest first (history
        order): what ``fhir-server copy-store`` replays into another store."""

    @abstractmethod
    async def index_entries(self, resource_type: str, resource_id: str) -> ResourceIndex | None:
        """The index entries stored for the current version (None if the id was never used), so
        that a copy keeps them exactly, without extracting them again."""

    async def change_marker(self, resource_types: tuple[str, ...]) -> Hashable | None:
        """A value that differs after any committed write of a resource of these types, by any
        process (equal values: nothing of them changed in between), or None when the store
        cannot tell — then callers must not remember anything derived from them."""
        return None


class StoreTransaction(StoreReader):
    @abstractmethod
    async def reindex(
        self, resource_type: str, after: str | None, limit: int, extract: Callable[[bytes], ResourceIndex]
    ) -> tuple[int, str | None]:
        """Recompute the index entries of up to ``limit`` current resources of a type, in store
        order after the ``after`` cursor: (how many were done, the next cursor or None at the end)."""

    @abstractmethod
    async def write(self, version: StoredVersion, index: ResourceIndex | None) -> None:
        """Store a new current version (body None: a deletion) and replace its index entries."""

    async def claim(self, resource_type: str, criteria: list[tuple[str, str]]) -> None:
        """Called by a conditional interaction before it looks for matches: two transactions
        claiming the same criteria must not both commit (the loser raises
        :class:`~fhir_server.store.conflicts.TransactionConflict`). Nothing to do for a store whose
        write transactions never overlap."""

    async def create_many(self, created: list[tuple[StoredVersion, ResourceIndex]]) -> None:
        """Store first versions of resources whose ids are new (the caller made them); a store may
        do it in fewer calls than :meth:`write` would."""
        for version, index in created:
            await self.write(version, index)


class Store(StoreReader):
    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[StoreTransaction]:
        """A write transaction: committed when the block ends, rolled back if it raises."""

    @abstractmethod
    async def close(self) -> None: ...
