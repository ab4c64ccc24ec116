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

from fhir_server.security.visibility import Visibility
from fhir_server.store.base import StoreReader

RELATION_TYPES = ("CareTeam", "Consent", "PractitionerRole")
"""The resource types a professional's access is computed from (security/relationships.py)."""

Computed = tuple[Visibility, frozenset[str] | None]
"""What the caller may see, and the patients whose records they may write."""


class VisibilityCache:
    """Bounded by weight, least recently used out: an entry weighs 1 + the patient ids it holds
    (~100 bytes each), so a GP with 2,000 patients counts as 2,000 callers who have none."""

    def __init__(self, store: StoreReader, max_weight: int = 200_000):
        self._store = store
        self._max_weight = max_weight
        self._weight = 0
        self._entries: OrderedDict[Hashable, tuple[Hashable, Computed, int]] = OrderedDict()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Computed]]) -> Computed:
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
        self._remember(key, marker, value)
        return value

    def _remember(self, key: Hashable, marker: Hashable, value: Computed) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._weight -= old[2]
        weight = 1 + len(value[0].patients or ())
        self._entries[key] = (marker, value, weight)
        self._weight += weight
        while self._weight > self._max_weight and len(self._entries) > 1:
            _, (_, _, dropped) = self._entries.popitem(last=False)
            self._weight -= dropped
