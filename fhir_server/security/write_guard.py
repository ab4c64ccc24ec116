"""The repository's write guard for access: whatever path a write takes (an interaction, a
transaction entry, a patch, an operation), its final content must belong to records the
caller may write."""

from __future__ import annotations

from typing import Any

from fhir_server.security.gate import current_access
from fhir_server.store.base import StoredVersion, StoreReader


class AccessWriteGuard:
    async def guard(self, resource: dict[str, Any], reader: StoreReader) -> None:
        await current_access().check_write(str(resource.get("resourceType")), resource)


class AccessWriteRecorder:
    """A write hook: each committed version is remembered in the request's access context, so that
    the request's AuditEvent names the resource written and lands in the access log of the patient
    whose record holds it (a delete names the resource only: its tombstone has no content)."""

    def check(self, resource: dict[str, Any]) -> None:
        return None

    def committed(self, version: StoredVersion) -> None:
        current_access().seen([version])
