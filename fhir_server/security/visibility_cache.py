"""What a professional may see, remembered between their requests while it cannot have changed.

Computing it reads the store four times (their PractitionerRoles, the CareTeams naming them,
the Consents permitting them, their patients' Consents): about 0.8 ms per request on a store
of 1M resources, more than the read it guards. The answer depends only on those three types
and on the day, so it is remembered per (caller, break-the-glass patient, day) together with
the store's change marker of the three types (``Store.change_marker``: on SQLite the newest
history sequence number of each, which every writing process moves on commit); the next
request asks the marker first — one index lookup per type — and computes afresh when it
moved. A new Consent or a revoked médecin référent thus still applies to the very next
request, from any server process. A store without a marker (MongoDB) is asked every time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from fhir_server.store.base import StoreReader

RELATION_TYPES = ("CareTeam", "Consent", "PractitionerRole")
"""The resource types a professional's access is computed from (security/relationships.py)."""

T = TypeVar("T")


class VisibilityCache(Generic[T]):
    def __init__(self, store: StoreReader, size: int = 1024):
        self._store = store
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, T]] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """The remembered value of ``key`` if the relation types are unchanged since it was
        computed; otherwise ``compute()``'s, remembered (an exception is not)."""
        marker = await self._store.change_marker(RELATION_TYPES)  # before computing: never newer than the value
        if marker is None:
            return await compute()
        entry = self._entries.get(key)
        if entry is not None and entry[0] == marker:
            self._entries.move_to_end(key)
            return entry[1]
        value = await compute()
        self._entries[key] = (marker, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value
