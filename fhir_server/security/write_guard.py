"""The repository's write guard for access: whatever path a write takes (an interaction, a
transaction entry, a patch, an operation), its final content must belong to records the
caller may write."""

from __future__ import annotations

from typing import Any

from fhir_server.security.gate import current_access
from fhir_server.store.base import StoreReader


class AccessWriteGuard:
    async def guard(self, resource: dict[str, Any], reader: StoreReader) -> None:
        await current_access().check_write(str(resource.get("resourceType")), resource)
