"""The request and response of one FHIR interaction, independent of HTTP.

The HTTP route and the batch/transaction processor both build a :class:`FhirRequest`
and hand it to :func:`fhir_server.api.interactions.handle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_server.store.base import StoredVersion


@dataclass(slots=True)
class FhirRequest:
    method: str
    segments: list[str]  # path below the base, split on "/"
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: Any = None  # parsed JSON, or None
    assigned_id: str | None = None  # id chosen in advance for a POST inside a transaction

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def strict(self) -> bool:
        return "handling=strict" in self.headers.get("prefer", "").replace(" ", "")


@dataclass(slots=True)
class FhirResponse:
    status: int
    resource: bytes | dict[str, Any] | None = None  # bytes: stored JSON, sent as is
    version: StoredVersion | None = None  # gives ETag, Last-Modified and, on create, Location
    location: bool = False
    headers: dict[str, str] = field(default_factory=dict)
